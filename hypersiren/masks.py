"""Observed-pixel masks for inpainting (SIREN Sec. 4.4; CNP protocol of Garnelo et al. 2018).

Every function returns ``observed``: bool, True = known pixel, shaped ``(H, W)`` (or ``(B, 1, H, W)``
for the batched samplers and :func:`make_observed`, the single entry point by name). Randomness comes
from an explicit ``torch.Generator``.

Deviation from the official code: it has no centre or free-form masks; ``center`` (a square hole of
half the side by default) and ``brush`` (DeepFill v2-style strokes) are ours. Its test-time context
for the CNN encoder is Bernoulli (``bernoulli``); the CNP / set-encoder protocol draws exactly N pixels
(``random``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

KINDS = (
    "center",
    "half",
    "half_top",
    "half_bottom",
    "half_left",
    "half_right",
    "random",
    "bernoulli",
    "file",
    "brush",
    "full",
)


class MaskError(ValueError):
    """A mask that cannot be made: unknown kind, bad context size, unreadable mask file."""


def center(height: int, width: int, frac: float = 0.5) -> torch.Tensor:
    """A centred square hole of side ``round(frac * min(H, W))``; everything else observed.

    Returns:
        ``(H, W)`` bool.
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"center_frac must lie in (0, 1), got {frac}")
    side = max(1, round(frac * min(height, width)))
    top, left = (height - side) // 2, (width - side) // 2
    observed = torch.ones(height, width, dtype=torch.bool)
    observed[top : top + side, left : left + side] = False
    return observed


def half(height: int, width: int, keep: str = "top") -> torch.Tensor:
    """One half observed (the paper's 'half' keeps the top rows); the other half inpainted.

    Returns:
        ``(H, W)`` bool.
    """
    observed = torch.zeros(height, width, dtype=torch.bool)
    if keep == "top":
        observed[: height // 2] = True
    elif keep == "bottom":
        observed[height - height // 2 :] = True
    elif keep == "left":
        observed[:, : width // 2] = True
    elif keep == "right":
        observed[:, width - width // 2 :] = True
    else:
        raise ValueError(f"half mask keeps 'top', 'bottom', 'left' or 'right', got {keep!r}")
    return observed


def random_context(
    batch: int, height: int, width: int, num_context: torch.Tensor | int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Exactly ``num_context`` observed pixels per image, drawn uniformly without replacement.

    Args:
        num_context: an int, or ``(B,)`` integers (one count per image).

    Returns:
        ``(B, 1, H, W)`` bool.
    """
    n = height * width
    counts = torch.as_tensor(num_context, dtype=torch.long).expand(batch)
    if (counts < 0).any() or (counts > n).any():
        raise ValueError(f"num_context must lie in [0, {n}] for a {height}x{width} image, got {counts.tolist()}")
    ranks = torch.rand(batch, n, generator=generator).argsort(dim=1).argsort(dim=1)  # a random rank per pixel
    return (ranks < counts[:, None]).reshape(batch, 1, height, width)


def bernoulli_context(
    batch: int, height: int, width: int, num_context: torch.Tensor | float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The official CNN-encoder context: each pixel observed with probability ``num_context / (H W)``.

    Returns:
        ``(B, 1, H, W)`` bool.
    """
    p = torch.as_tensor(num_context, dtype=torch.float32).expand(batch) / (height * width)
    return torch.rand(batch, 1, height, width, generator=generator) < p[:, None, None, None]


def full(height: int, width: int) -> torch.Tensor:
    """Every pixel observed (the protocol's 'full' setting: reconstruction, nothing to inpaint).

    Returns:
        ``(H, W)`` bool.
    """
    return torch.ones(height, width, dtype=torch.bool)


def from_file(path: str | Path, height: int, width: int) -> torch.Tensor:
    """A mask image, white = missing (the usual inpainting convention), on an ``H x W`` grid.

    The file is read as grey levels (an alpha channel is ignored) and goes through the pictures' own
    geometry (:func:`on_grid`), so a mask drawn on a non-square photo lands where it was drawn.

    Raises:
        MaskError: the file is missing or is not an image Pillow can read (the message names it).

    Returns:
        ``(H, W)`` bool.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            grey = ImageOps.exif_transpose(img).convert("L")
    except (OSError, UnidentifiedImageError) as err:
        raise MaskError(f"cannot read mask file {path}: {err}") from None
    return on_grid(grey, height, width)


def on_grid(missing: Image.Image, height: int, width: int) -> torch.Tensor:
    """A grey mask image (255 = missing) on the model's ``H x W`` grid, exactly as a picture gets there.

    The same centred crop and antialiased bilinear resize as the pictures
    (:func:`hypersiren.data.crop_resize`); a model pixel is missing where the resized grey level is >= 128,
    i.e. where at least about half of it was marked (a binary mask stays put: no shift, no distortion).

    Returns:
        ``(H, W)`` bool, True = observed.
    """
    from hypersiren.data import crop_resize

    grey = crop_resize(missing.convert("L"), height, width)
    return torch.from_numpy(np.asarray(grey, dtype=np.uint8).copy()) < 128


def brush(
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator | None = None,
    max_strokes: int = 4,
    max_vertices: int = 6,
    width_range: tuple[float, float] = (0.06, 0.15),
    length_range: tuple[float, float] = (0.1, 0.35),
) -> torch.Tensor:
    """Free-form brush strokes as missing regions (after DeepFill v2, Yu et al. 2019, Alg. 1).

    Each image gets 1..``max_strokes`` strokes; a stroke is a random walk of 1..``max_vertices``
    segments whose lengths and brush width are fractions of the image side, drawn with round caps.
    Everything is drawn from ``generator`` and rasterised as a distance-to-segment test on the pixel
    grid, in chunks of images to bound memory.

    Returns:
        ``(B, 1, H, W)`` bool, False under the strokes.
    """
    side = float(min(height, width))
    ys = torch.arange(height, dtype=torch.float32).repeat_interleave(width)
    xs = torch.arange(width, dtype=torch.float32).repeat(height)
    pixels = torch.stack([ys, xs], dim=-1)  # (HW, 2)
    out = []
    for start in range(0, batch, 256):
        b = min(256, batch - start)
        n_strokes = torch.randint(1, max_strokes + 1, (b, 1), generator=generator)
        n_vertices = torch.randint(1, max_vertices + 1, (b, max_strokes, 1), generator=generator)
        origin = torch.rand(b, max_strokes, 1, 2, generator=generator) * torch.tensor([height - 1.0, width - 1.0])
        angle = torch.rand(b, max_strokes, max_vertices, generator=generator) * 2 * math.pi
        lo, hi = length_range
        length = (lo + (hi - lo) * torch.rand(b, max_strokes, max_vertices, generator=generator)) * side
        lo, hi = width_range
        radius = (lo + (hi - lo) * torch.rand(b, max_strokes, 1, generator=generator)) * side / 2
        steps = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1) * length[..., None]  # (b, S, V, 2)
        vertices = torch.cat([origin, origin + steps.cumsum(dim=2)], dim=2)  # (b, S, V + 1, 2)
        p, q = vertices[:, :, :-1], vertices[:, :, 1:]  # segment ends, (b, S, V, 2)
        valid = (torch.arange(max_strokes) < n_strokes)[:, :, None] & (torch.arange(max_vertices) < n_vertices)
        p, q = p.reshape(b, -1, 1, 2), q.reshape(b, -1, 1, 2)  # (b, S*V, 1, 2)
        d = q - p
        t = (((pixels - p) * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-9)).clamp(0, 1)  # (b, S*V, HW)
        dist = (pixels - (p + t[..., None] * d)).norm(dim=-1)  # (b, S*V, HW)
        radius = radius.expand(b, max_strokes, max_vertices).reshape(b, -1, 1)
        covered = ((dist <= radius) & valid.reshape(b, -1, 1)).any(dim=1)  # (b, HW)
        out.append(~covered.reshape(b, 1, height, width))
    return torch.cat(out) if out else torch.ones(0, 1, height, width, dtype=torch.bool)


def make_observed(
    kind: str,
    batch: int,
    height: int,
    width: int,
    *,
    num_context: int | None = None,
    center_frac: float = 0.5,
    path: str | Path | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Every mask by name: the one entry point for scripts.

    Args:
        kind: one of :data:`KINDS`. ``half`` keeps the top half (the paper's); ``half_bottom`` etc.
            keep that half. ``random`` observes exactly ``num_context`` pixels per image;
            ``bernoulli`` each pixel with probability ``num_context / (H W)`` (the official CNN-encoder
            protocol, train and test). ``file`` reads ``path`` (white = missing). ``brush`` draws
            free-form strokes. ``full`` observes everything.
        batch: number of images B.
        num_context: context pixels for ``random`` / ``bernoulli``.
        center_frac: side of the ``center`` hole as a fraction of the image side.
        path: the mask image for ``file``.
        generator: the source of randomness for ``random``, ``bernoulli`` and ``brush``.

    Raises:
        MaskError: an unknown kind (the valid ones are listed), a missing or out-of-range
            ``num_context``, a missing or unreadable mask file.

    Returns:
        ``(B, 1, H, W)`` bool, True = observed.
    """
    if kind not in KINDS:
        raise MaskError(f"unknown mask kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    if kind in ("random", "bernoulli"):
        n = height * width
        if num_context is None:
            raise MaskError(f"mask kind {kind!r} needs num_context (a number of context pixels)")
        if not 0 <= num_context <= n:
            raise MaskError(f"num_context must lie in [0, {n}] for a {height}x{width} image, got {num_context}")
        sample = random_context if kind == "random" else bernoulli_context
        return sample(batch, height, width, num_context, generator=generator)
    if kind == "brush":
        return brush(batch, height, width, generator=generator)
    if kind == "center":
        try:
            single = center(height, width, center_frac)
        except ValueError as err:
            raise MaskError(str(err)) from None
    elif kind == "file":
        if path is None:
            raise MaskError("mask kind 'file' needs a path to a mask image (white = missing)")
        single = from_file(path, height, width)
    elif kind == "full":
        single = full(height, width)
    else:
        single = half(height, width, keep="top" if kind == "half" else kind.removeprefix("half_"))
    return single.expand(batch, 1, height, width).clone()


def resize_observed(images: torch.Tensor, observed: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A partly observed image at another resolution: mask-aware area resampling.

    A pixel of the ``size x size`` result is observed when any observed input pixel falls in its area, and
    its value is the mean of those observed pixels (missing ones never leak in). This is how a prior trained
    at one resolution reads pictures of another (e.g. a 32x32 prior given 64x64 faces).

    Args:
        images: ``(B, C, H, W)``.
        observed: ``(B, 1, H, W)`` bool.
        size: the output side.

    Returns:
        ``(B, C, size, size)`` images (0 where unobserved) and ``(B, 1, size, size)`` bool.
    """
    weight = observed.to(images.dtype)
    total = torch.nn.functional.adaptive_avg_pool2d(images * weight, size)  # (B, C, s, s)
    share = torch.nn.functional.adaptive_avg_pool2d(weight, size)  # (B, 1, s, s): observed share of each area
    small = share > 0
    return torch.where(small, total / share.clamp_min(1e-12), 0.0), small
