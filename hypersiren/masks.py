"""Observed-pixel masks for inpainting (SIREN Sec. 4.4; CNP protocol of Garnelo et al. 2018).

Every function returns ``observed``: bool, True = known pixel, shaped ``(H, W)`` (or ``(B, 1, H, W)``
for the batched samplers). Randomness comes from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import torch


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
