"""What one training step of the prior shows the encoder, renders and supervises (SIREN supplement Sec. 9; ours
where named).

:func:`batch_indices` says which images a process sees at a step: a fresh permutation per epoch, seeded by
(seed, epoch), so a resumed run sees exactly what an uninterrupted one would. :func:`training_batch` draws, from
generators seeded by (seed, step, process) so that a resumed run is identical:
the images (optionally mirrored), their context (:func:`hypersiren.masks.sample_observed`), and where the SIRENs
are rendered:

- every pixel (the paper), or ``render_pixels`` pixel centres shared by the batch;
- and, off the lattice (ours, after LIIF, Chen et al. 2021), ``offgrid_points`` points shared by the batch whose
  targets come from a higher-resolution copy of the same faces (``hires``: e.g. the 64x64 faces for a 32x32 prior):
  ``bilinear`` draws them anywhere in the image and reads the hires face bilinearly there
  (:func:`torch.nn.functional.grid_sample`, ``align_corners=False``: the pixel-centre convention of
  :mod:`hypersiren.siren.coords`); ``pixels`` draws hires pixel centres and takes their values exactly. Each point
  carries its rendering scale, ``log2`` (hires side / model side), for a prior with ``cell_input``.
- the hires faces may come from several sources, each face at the real resolution it exists at (:class:`Hires`: e.g.
  CelebA's originals at 128 for some faces, the 89x89 half-size copies for the others): each step every face reads
  its targets from one of the sources that hold it, drawn uniformly, and its points carry that source's scale; a face
  no source holds reads them from its own lattice (scale 0).

Every draw is made on the step's device (no copy, no wait for the host): the draws on a GPU differ from those on a
CPU, each seeded, so a resumed run repeats an uninterrupted one on the same kind of device.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch.nn import functional as F

from hypersiren.data.images import to_model_range
from hypersiren.masks.context import sample_observed
from hypersiren.siren.coords import grid, random_pixels, take_pixels
from hypersiren.utils import seeds
from hypersiren.utils.seeds import generator

OFFGRID_TARGETS = ("bilinear", "pixels")


class Hires(NamedTuple):
    """A step's faces at higher resolutions, from one or more sources (off-lattice targets).

    Attributes:
        images: per source ``(B, C, s_k, s_k)`` uint8, this step's faces at that source's side (a face the source
            does not hold: any row, never read).
        held: ``(B, K)`` bool, which sources hold each face.
    """

    images: tuple[torch.Tensor, ...]
    held: torch.Tensor


class Batch(NamedTuple):
    """One step's tensors, on the step's device.

    Attributes:
        images: ``(B, C, H, W)`` in [-1, 1], the encoder's input (only the observed pixels are read).
        observed: ``(B, 1, H, W)`` bool.
        target: what the rendering is compared with: ``(B, C, H, W)``, or ``(B, C, S)`` at ``pixels`` / ``points``.
        seen: like ``target`` with one channel: whether the encoder observed each rendered pixel (for a point off
            the lattice: the model pixel it falls in).
        pixels: ``(S,)`` flat pixel indices rendered (shared by the batch), or None.
        points: ``(S, 2)`` points rendered (the ``pixels``' centres first, then the off-lattice points), or None.
        point_scales: ``(S,)`` each point's rendering scale (0 at the model's own pixels), or ``(B, S)`` when the
            faces' targets come from sources of different sides (:class:`Hires`); None without points.
        lattice: with ``points``, how many of them are the model's pixel centres (they come first), else None.
    """

    images: torch.Tensor
    observed: torch.Tensor
    target: torch.Tensor
    seen: torch.Tensor
    pixels: torch.Tensor | None = None
    points: torch.Tensor | None = None
    point_scales: torch.Tensor | None = None
    lattice: int | None = None


def batch_indices(
    seed: int, step: int, n: int, batch_size: int, rank: int = 0, world: int = 1, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """This process's ``batch_size`` image indices for ``step`` (the global batch is ``batch_size * world``), drawn
    on ``device`` (where the images are)."""
    global_batch = batch_size * world
    per_epoch = max(1, n // global_batch)
    epoch, pos = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=seeds.generator(seed, epoch, device=device), device=device)
    return perm[pos * global_batch : (pos + 1) * global_batch][rank::world]


def training_batch(
    cfg,
    step: int,
    rank: int,
    images: torch.Tensor,
    hires: torch.Tensor | Hires | None = None,
    device: torch.device | str = "cpu",
) -> Batch:
    """The batch of ``step`` on process ``rank``.

    Args:
        cfg: a training config (``train/celeba.py``'s ``TrainConfig``: ``seed``, ``hflip``, the ``context_*``
            fields, ``hole_prob``, ``render_pixels``, ``offgrid_points``, ``offgrid_targets``).
        images: ``(B, C, H, W)`` uint8, this process's images of the step (on ``device`` already, or pinned host
            memory: copied without waiting).
        hires: ``(B, C, H', W')`` uint8, the same faces at a higher resolution (off-lattice targets); or
            :class:`Hires`, the faces from several sources; or None (the targets come from ``images`` themselves).
        device: where the batch is drawn and lives; its generators are seeded from (seed, step, rank, stream).
    """
    x = to_model_range(images.to(device, non_blocking=True))  # (B, C, H, W)
    b, _, h, w = x.shape
    one = hires is None or isinstance(hires, torch.Tensor)  # one source (or the lattice itself) for every face
    sources = (hires,) if isinstance(hires, torch.Tensor) else hires.images if hires is not None else ()
    his = [to_model_range(t.to(device, non_blocking=True)) for t in sources]

    def stream(*keys: int) -> torch.Generator:  # every draw on the step's device: nothing waits for the host
        return generator(cfg.seed, step, rank, *keys, device=device)

    if cfg.hflip:
        flip = (torch.rand(b, generator=stream(2), device=device) < 0.5)[:, None, None, None]
        x = torch.where(flip, x.flip(-1), x)
        his = [torch.where(flip, hi.flip(-1), hi) for hi in his]
    observed = sample_observed(
        b,
        h,
        w,
        stream(),
        cfg.context_min,
        cfg.context_max,
        cfg.context_sampling,
        cfg.context_log_uniform,
        cfg.hole_prob,
        cfg.context_dense_prob,
        cfg.context_empty_prob,
    )
    if cfg.render_pixels is None and not cfg.offgrid_points:
        return Batch(x, observed, x, observed)
    if cfg.render_pixels is not None:  # one random pixel subset per step, shared by the batch
        pixels = random_pixels(h, w, cfg.render_pixels, stream(1))
    else:  # every pixel, and the off-lattice points
        pixels = torch.arange(h * w, device=device)
    target, seen = take_pixels(x, pixels), take_pixels(observed, pixels)  # (B, C, S), (B, 1, S)
    if not cfg.offgrid_points:
        return Batch(x, observed, target, seen, pixels)
    centres = grid(h, w, align_corners=False, device=device)[pixels]  # (S, 2) the pixels' centres
    if one:  # one scale for every point
        hi = his[0] if his else x
        points, extra = offgrid_targets(hi, cfg.offgrid_points, cfg.offgrid_targets, stream(3))
        scale = math.log2(hi.shape[-1] / w)  # the targets' pixels against the model's
        scales = torch.full((len(points),), scale, device=device)
    else:
        points, extra, face_scales = _several_sources(x, his, hires.held, cfg, stream(3), stream(5))
        scales = face_scales[:, None].expand(b, len(points))  # (B, N)
    points_all = torch.cat([centres, points])  # (S + N, 2)
    zeros = torch.zeros(len(centres), device=device)
    scales = torch.cat([zeros, scales]) if scales.dim() == 1 else torch.cat([zeros.expand(b, -1), scales], 1)
    extra_seen = take_pixels(observed, pixel_of(points, h, w))  # (B, 1, N): the model pixel each point falls in
    return Batch(
        x,
        observed,
        torch.cat([target, extra], -1),
        torch.cat([seen, extra_seen], -1),
        None,
        points_all,
        scales,
        len(centres),
    )


def _several_sources(
    x: torch.Tensor,
    his: list[torch.Tensor],
    held: torch.Tensor,
    cfg,
    points_gen: torch.Generator,
    choice_gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Off-lattice targets when the faces' sources differ: each face reads one of the sources that hold it (drawn
    uniformly; none: its own lattice ``x``) -> points ``(N, 2)``, targets ``(B, C, N)``, each face's scale ``(B,)``.

    Every source is read for the whole batch and the chosen one kept per face (tensors only: no host wait)."""
    if cfg.offgrid_targets != "bilinear":
        raise ValueError(
            "targets from several sources of different sides need offgrid_targets='bilinear' (the "
            "hires pixel centres differ between sources)"
        )
    b, w = len(x), x.shape[-1]
    count = held.sum(1)  # (B,)
    pick = (torch.rand(b, generator=choice_gen, device=x.device) * count).floor().long()  # the pick-th source held
    rank = held.long().cumsum(1) - 1  # (B, K): each held source's rank among the face's sources
    chosen = held & (rank == pick[:, None])  # (B, K) one True per face held by any source
    points, extra = offgrid_targets(x, cfg.offgrid_points, "bilinear", points_gen)  # own lattice: scale 0
    scales = torch.zeros(b, device=x.device)
    xy = points.flip(-1).view(1, 1, -1, 2)  # grid_sample reads (x, y)
    for k, hi in enumerate(his):
        values = F.grid_sample(
            hi, xy.expand(b, -1, -1, -1), mode="bilinear", padding_mode="border", align_corners=False
        )[:, :, 0]  # (B, C, N)
        extra = torch.where(chosen[:, k, None, None], values, extra)
        scales = torch.where(chosen[:, k], math.log2(hi.shape[-1] / w), scales)
    return points, extra, scales


def offgrid_targets(
    images: torch.Tensor, count: int, mode: str, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` points of the image (shared by the batch) and the images' values there.

    Args:
        images: ``(B, C, H, W)`` in [-1, 1], the faces the targets are read from.
        mode: ``bilinear``: points uniform in [-1, 1]^2, values by bilinear interpolation (edge pixels held beyond
            the outermost centres); ``pixels``: ``count`` distinct pixel centres of ``images``, their own values.
        gen: the generator of the draw, on the images' device.

    Returns:
        ``(count, 2)`` (y, x) points and ``(B, C, count)`` targets.
    """
    b, _, h, w = images.shape
    if mode == "pixels":
        index = random_pixels(h, w, count, gen)
        return grid(h, w, align_corners=False, device=images.device)[index], take_pixels(images, index)
    if mode != "bilinear":
        raise ValueError(f"offgrid_targets is one of {', '.join(OFFGRID_TARGETS)}, got {mode!r}")
    points = torch.rand(count, 2, generator=gen, device=images.device) * 2 - 1  # (N, 2) (y, x)
    xy = points.flip(-1).view(1, 1, count, 2).expand(b, 1, count, 2)  # grid_sample reads (x, y)
    values = F.grid_sample(images, xy, mode="bilinear", padding_mode="border", align_corners=False)  # (B, C, 1, N)
    return points, values[:, :, 0]


def pixel_of(points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The flat index of the ``height x width`` pixel each ``(N, 2)`` point falls in: ``(N,)``."""
    rows = ((points[:, 0] + 1) / 2 * height).floor().long().clamp(0, height - 1)  # Python sizes: no host copy
    cols = ((points[:, 1] + 1) / 2 * width).floor().long().clamp(0, width - 1)
    return rows * width + cols
