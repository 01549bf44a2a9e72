"""What one training step of the prior shows the encoder, renders and supervises (SIREN supplement Sec. 9; ours
where named).

:func:`training_batch` draws, from generators seeded by (seed, step, process) so that a resumed run is identical:
the images (optionally mirrored), their context (:func:`hypersiren.masks.sample_observed`), and where the SIRENs
are rendered:

- every pixel (the paper), or ``render_pixels`` pixel centres shared by the batch;
- and, off the lattice (ours, after LIIF, Chen et al. 2021), ``offgrid_points`` points shared by the batch whose
  targets come from a higher-resolution copy of the same faces (``hires``: e.g. the 64x64 faces for a 32x32 prior):
  ``bilinear`` draws them anywhere in the image and reads the hires face bilinearly there
  (:func:`torch.nn.functional.grid_sample`, ``align_corners=False``: the pixel-centre convention of
  :mod:`hypersiren.siren.coords`); ``pixels`` draws hires pixel centres and takes their values exactly. Each point
  carries its rendering scale, ``log2`` (hires side / model side), for a prior with ``cell_input``.

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
from hypersiren.utils.seeds import generator

OFFGRID_TARGETS = ("bilinear", "pixels")


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
        point_scales: ``(S,)`` each point's rendering scale (0 at the model's own pixels), or None.
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


def training_batch(
    cfg,
    step: int,
    rank: int,
    images: torch.Tensor,
    hires: torch.Tensor | None = None,
    device: torch.device | str = "cpu",
) -> Batch:
    """The batch of ``step`` on process ``rank``.

    Args:
        cfg: a training config (``train/celeba.py``'s ``TrainConfig``: ``seed``, ``hflip``, the ``context_*``
            fields, ``hole_prob``, ``render_pixels``, ``offgrid_points``, ``offgrid_targets``).
        images: ``(B, C, H, W)`` uint8, this process's images of the step (on ``device`` already, or pinned host
            memory: copied without waiting).
        hires: ``(B, C, H', W')`` uint8, the same faces at a higher resolution (off-lattice targets), or None.
        device: where the batch is drawn and lives; its generators are seeded from (seed, step, rank, stream).
    """
    x = to_model_range(images.to(device, non_blocking=True))  # (B, C, H, W)
    b, _, h, w = x.shape
    hi = to_model_range(hires.to(device, non_blocking=True)) if hires is not None else None

    def stream(*keys: int) -> torch.Generator:  # every draw on the step's device: nothing waits for the host
        return generator(cfg.seed, step, rank, *keys, device=device)

    if cfg.hflip:
        flip = (torch.rand(b, generator=stream(2), device=device) < 0.5)[:, None, None, None]
        x = torch.where(flip, x.flip(-1), x)
        hi = torch.where(flip, hi.flip(-1), hi) if hi is not None else None
    observed = sample_observed(b, h, w, stream(), cfg.context_min, cfg.context_max, cfg.context_sampling,
                               cfg.context_log_uniform, cfg.hole_prob, cfg.context_dense_prob,
                               cfg.context_empty_prob)  # fmt: skip
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
    points, extra = offgrid_targets(hi if hi is not None else x, cfg.offgrid_points, cfg.offgrid_targets, stream(3))
    scale = math.log2(hi.shape[-1] / w) if hi is not None else 0.0  # the targets' pixels against the model's
    points_all = torch.cat([centres, points])  # (S + N, 2)
    scales = torch.cat([torch.zeros(len(centres), device=device), torch.full((len(points),), scale, device=device)])
    extra_seen = take_pixels(observed, pixel_of(points, h, w))  # (B, 1, N): the model pixel each point falls in
    return Batch(x, observed, torch.cat([target, extra], -1), torch.cat([seen, extra_seen], -1), None, points_all,
                 scales, len(centres))  # fmt: skip


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
