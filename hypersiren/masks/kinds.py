"""Observed-pixel masks for inpainting (SIREN Sec. 4.4; CNP protocol of Garnelo et al. 2018).

Every function returns ``observed``: bool, True = known pixel, shaped ``(H, W)`` (or ``(B, 1, H, W)``
for the batched samplers and :func:`make_observed`, the single entry point by name). Randomness comes
from an explicit ``torch.Generator``.

Training context is drawn from these kinds by :mod:`hypersiren.masks.context`.

Deviation from the official code: it has no centre or free-form masks; ``center`` (a square hole of
half the side by default) and ``brush`` (DeepFill v2-style strokes, :mod:`hypersiren.masks.brush`) are ours. Its
test-time context for the CNN encoder is Bernoulli (``bernoulli``); the CNP / set-encoder protocol draws
exactly N pixels (``random``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from hypersiren.masks.brush import brush

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
    "empty",
)


class MaskError(ValueError):
    """A mask that cannot be made: unknown kind, bad context size, unreadable mask file."""


def center(height: int, width: int, frac: float = 0.5, device: torch.device | str = "cpu") -> torch.Tensor:
    """A centred square hole of side ``round(frac * min(H, W))``; everything else observed.

    Returns:
        ``(H, W)`` bool.
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"center_frac must lie in (0, 1), got {frac}")
    side = max(1, round(frac * min(height, width)))
    top, left = (height - side) // 2, (width - side) // 2
    observed = torch.ones(height, width, dtype=torch.bool, device=device)
    observed[top : top + side, left : left + side] = False
    return observed


def half(height: int, width: int, keep: str = "top", device: torch.device | str = "cpu") -> torch.Tensor:
    """One half observed (the paper's 'half' keeps the top rows); the other half inpainted.

    Returns:
        ``(H, W)`` bool.
    """
    observed = torch.zeros(height, width, dtype=torch.bool, device=device)
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
        num_context: an int, or ``(B,)`` integers (one count per image; a tensor is trusted to lie in [0, H W]:
            checking it would wait for its device).
        generator: also sets the device (the CPU without one).

    Returns:
        ``(B, 1, H, W)`` bool, on the generator's device.
    """
    n, device = height * width, _device(generator)
    if not isinstance(num_context, torch.Tensor) and not 0 <= num_context <= n:
        raise ValueError(f"num_context must lie in [0, {n}] for a {height}x{width} image, got {num_context}")
    counts = torch.as_tensor(num_context, dtype=torch.long, device=device).expand(batch)
    ranks = torch.rand(batch, n, generator=generator, device=device).argsort(dim=1).argsort(dim=1)  # a rank per pixel
    return (ranks < counts[:, None]).reshape(batch, 1, height, width)


def bernoulli_context(
    batch: int, height: int, width: int, num_context: torch.Tensor | float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The official CNN-encoder context: each pixel observed with probability ``num_context / (H W)``.

    Returns:
        ``(B, 1, H, W)`` bool, on the generator's device (the CPU without one).
    """
    device = _device(generator)
    p = torch.as_tensor(num_context, dtype=torch.float32, device=device).expand(batch) / (height * width)
    return torch.rand(batch, 1, height, width, generator=generator, device=device) < p[:, None, None, None]


def _device(generator: torch.Generator | None) -> torch.device:
    """Where a mask drawn with ``generator`` is made: its device (masks are drawn where they are used)."""
    return generator.device if generator is not None else torch.device("cpu")


def full(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Every pixel observed (the protocol's 'full' setting: reconstruction, nothing to inpaint).

    Returns:
        ``(H, W)`` bool.
    """
    return torch.ones(height, width, dtype=torch.bool, device=device)


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
    from hypersiren.data.images import crop_resize

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
            free-form strokes. ``full`` observes everything, ``empty`` nothing (a sampler's unconditional draws).
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
    elif kind in ("full", "empty"):
        single = full(height, width) if kind == "full" else ~full(height, width)
    else:
        single = half(height, width, keep="top" if kind == "half" else kind.removeprefix("half_"))
    return single.expand(batch, 1, height, width).clone()
