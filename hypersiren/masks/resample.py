"""A partly observed image at another resolution (how a prior trained at one side reads pictures of another)."""

from __future__ import annotations

import torch


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
