"""Observed-pixel masks for inpainting (SIREN Sec. 4.4; CNP protocol of Garnelo et al. 2018).

Every function returns ``observed``: bool, True = known pixel, shaped ``(H, W)`` (or ``(B, 1, H, W)``
for the batched samplers and :func:`make_observed`, the single entry point by name). Randomness comes
from an explicit ``torch.Generator``.

Training context (:func:`sample_observed`): the paper draws k ~ U[10, 200) per image and lets the CNN
encoder observe each pixel with probability k / (H W) (``bernoulli``); ``exact`` observes exactly k pixels.
Our extensions, off by default: k drawn log-uniformly, and a share of structured holes (a square or a half)
so the prior also learns the large-hole completions it is evaluated on.

Deviation from the official code: it has no centre or free-form masks; ``center`` (a square hole of
half the side by default) and ``brush`` (DeepFill v2-style strokes, :mod:`hypersiren.brush`) are ours. Its
test-time context for the CNN encoder is Bernoulli (``bernoulli``); the CNP / set-encoder protocol draws
exactly N pixels (``random``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from hypersiren.brush import brush

KINDS = ("center", "half", "half_top", "half_bottom", "half_left", "half_right", "random", "bernoulli", "file",
         "brush", "full")  # fmt: skip


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


def sample_observed(
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator,
    context_min: int = 10,
    context_max: int = 200,
    sampling: str = "bernoulli",
    log_uniform: bool = False,
    hole_prob: float = 0.0,
    dense_prob: float = 0.0,
) -> torch.Tensor:
    """Training context for a batch: ``(B, 1, H, W)`` bool, True = observed.

    Args:
        context_min, context_max: k is drawn from [context_min, context_max) per image.
        sampling: ``bernoulli`` (each pixel with probability k / (H W), the official CNN path) or
            ``exact`` (exactly k pixels).
        log_uniform: draw k log-uniformly instead of uniformly.
        hole_prob: share of images that instead get a structured hole: a square of random side
            (a quarter to three quarters of the image) at a random place, or a random half.
        dense_prob: share of images whose number of *missing* pixels ``H W - k`` is drawn log-uniformly over
            [1, H W - context_min] instead (then clipped to the range): as many images near full context as
            log-uniform ``k`` puts near ``context_min``. Drawn after ``k``, so 0 changes no other draw.
    """
    if not 0.0 <= dense_prob <= 1.0:
        raise ValueError(f"dense_prob must lie in [0, 1], got {dense_prob}")
    n = height * width
    lo, hi = max(1, context_min), min(context_max, n + 1)
    if lo >= hi:
        raise ValueError(f"context range [{context_min}, {context_max}) is empty for {height}x{width} images")
    u = torch.rand(batch, generator=generator)
    if log_uniform:
        k = torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))).floor().clamp(lo, hi - 1)
    else:
        k = (lo + u * (hi - lo)).floor()
    if dense_prob > 0:
        dense = torch.rand(batch, generator=generator) < dense_prob
        missing = torch.exp(torch.rand(batch, generator=generator) * math.log(n - lo + 1)).floor()  # [1, n - lo]
        k = torch.where(dense, (n - missing).clamp(lo, hi - 1), k)
    if sampling == "bernoulli":
        observed = bernoulli_context(batch, height, width, k, generator=generator)
    elif sampling == "exact":
        observed = random_context(batch, height, width, k.long(), generator=generator)
    else:
        raise ValueError(f"context sampling is 'bernoulli' or 'exact', got {sampling!r}")
    holes = torch.rand(batch, generator=generator) < hole_prob
    for i in torch.nonzero(holes).flatten().tolist():
        observed[i, 0] = _random_hole(height, width, generator)
    return observed


def _random_hole(height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """A random square hole or a random half, ``(H, W)`` bool."""
    if torch.rand((), generator=generator) < 0.5:
        return half(
            height, width, keep=("top", "bottom", "left", "right")[int(torch.randint(4, (), generator=generator))]
        )
    side = int(torch.randint(max(1, min(height, width) // 4), 3 * min(height, width) // 4 + 1, (), generator=generator))
    top = int(torch.randint(0, height - side + 1, (), generator=generator))
    left = int(torch.randint(0, width - side + 1, (), generator=generator))
    observed = torch.ones(height, width, dtype=torch.bool)
    observed[top : top + side, left : left + side] = False
    return observed


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
