"""Coordinate grids and signal <-> point-set conversion.

Conventions (SIREN paper Sec. 3; official `get_mgrid`): coordinates lie in [-1, 1] per axis, the last
dimension is the coordinate dimension, images use (y, x) order (row first), videos (t, y, x).

Two placements of a side's ``n`` samples in [-1, 1], named as ``torch.nn.functional.interpolate`` names them:

- ``align_corners=True`` (the official ``get_mgrid``; single signals are fitted and rendered on it): the first and
  last samples sit on -1 and 1, ``linspace(-1, 1, n)``.
- ``align_corners=False`` (pixel centres; the priors, and every resampling of pictures): the image spans [-1, 1]
  edge to edge and pixel ``i`` is the centre of its cell, ``-1 + (2 i + 1) / n``. A rendering at any size then
  registers with the real image at that size: the 64x64 pixel ``j`` lies at the 32x32 index ``(j + 0.5) / 2 - 0.5``.
"""

from __future__ import annotations

import torch


def grid(
    *sizes: int,
    align_corners: bool = True,
    extent: float | tuple[float, ...] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """A regular grid over [-1, 1]^D, row-major, matching a signal's flattened layout.

    Args:
        sizes: number of samples per axis, e.g. ``grid(H, W)`` or ``grid(T, H, W)``; an axis of size 1
            sits at 0.
        align_corners: True: corner to corner, ``linspace(-1, 1, n)`` (the official ``get_mgrid``); False: the
            pixel centres ``-1 + (2 i + 1) / n`` (see the module docstring).
        extent: the outermost samples' coordinate per axis (one value for all), overriding ``align_corners``:
            ``linspace(-extent, extent, n)``.

    Returns:
        ``(prod(sizes), D)`` coordinates, axis order as given.
    """
    if not sizes or any(int(s) < 1 for s in sizes):
        raise ValueError(f"grid sizes must be positive integers, got {sizes}")
    if extent is None:
        extent = tuple(1.0 if align_corners else (int(s) - 1) / int(s) for s in sizes)
    elif not isinstance(extent, tuple):
        extent = (float(extent),) * len(sizes)
    zero = torch.zeros(1, device=device, dtype=dtype)
    axes = [
        torch.linspace(-e, e, int(s), device=device, dtype=dtype) if s > 1 else zero
        for s, e in zip(sizes, extent, strict=True)
    ]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack(mesh, dim=-1).reshape(-1, len(sizes))


def image_to_points(images: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, H*W, C)`` in the order of ``grid(H, W)``."""
    b, c, h, w = images.shape
    return images.reshape(b, c, h * w).transpose(1, 2)


def points_to_image(points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(B, H*W, C)`` -> ``(B, C, H, W)``; the inverse of :func:`image_to_points`."""
    b, n, c = points.shape
    if n != height * width:
        raise ValueError(f"{n} points cannot form a {height}x{width} image")
    return points.transpose(1, 2).reshape(b, c, height, width)


def random_pixels(height: int, width: int, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` distinct pixels of an ``H x W`` grid drawn uniformly: ``(S,)`` flat (row-major) indices.

    Training on a pixel subset (``render_pixels``) renders and supervises only these pixels, shared by the batch.
    """
    if not 1 <= count <= height * width:
        raise ValueError(f"count must lie in [1, {height * width}] for a {height}x{width} grid, got {count}")
    device = generator.device if generator is not None else None  # drawn where the generator lives
    return torch.randperm(height * width, generator=generator, device=device)[:count]


def take_pixels(signal: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """The values of ``signal`` at flat pixel indices: ``(..., H, W)`` -> ``(..., S)``.

    Args:
        signal: images ``(B, C, H, W)``, or a coordinate grid laid out as ``(D, H, W)``.
        pixels: ``(S,)`` flat (row-major) indices, as from :func:`random_pixels`.
    """
    if pixels.dim() != 1:
        raise ValueError(f"pixels must be 1-D flat indices, got shape {tuple(pixels.shape)}")
    return signal.flatten(-2)[..., pixels]
