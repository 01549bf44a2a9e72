"""Training context: which pixels the encoder sees in a training step (SIREN supplement Sec. 9; ours where named).

The paper draws k ~ U[10, 200) per image and lets the CNN encoder observe each pixel with probability k / (H W)
(``bernoulli``); ``exact`` observes exactly k pixels. Our extensions, off by default: k drawn log-uniformly, the
missing count drawn log-uniformly for a share of the images (dense context), and a share of structured holes
(a square or a half) so the prior also learns the large-hole completions it is evaluated on. The mask kinds
themselves are :mod:`hypersiren.masks.kinds`.
"""

from __future__ import annotations

import math

import torch

from hypersiren.masks.kinds import bernoulli_context, half, random_context


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
    empty_prob: float = 0.0,
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
        empty_prob: share of images with nothing observed (a sampler drawing new faces); drawn last.
    """
    if not 0.0 <= dense_prob <= 1.0:
        raise ValueError(f"dense_prob must lie in [0, 1], got {dense_prob}")
    n = height * width
    lo, hi = max(1, context_min), min(context_max, n + 1)
    if lo >= hi:
        raise ValueError(f"context range [{context_min}, {context_max}) is empty for {height}x{width} images")
    g, device = generator, generator.device  # drawn on the generator's device: no copy, no wait for the host
    u = torch.rand(batch, generator=g, device=device)
    if log_uniform:
        k = torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))).floor().clamp(lo, hi - 1)
    else:
        k = (lo + u * (hi - lo)).floor()
    if dense_prob > 0:
        dense = torch.rand(batch, generator=g, device=device) < dense_prob
        missing = torch.exp(torch.rand(batch, generator=g, device=device) * math.log(n - lo + 1)).floor()  # [1, n - lo]
        k = torch.where(dense, (n - missing).clamp(lo, hi - 1), k)
    if sampling == "bernoulli":
        observed = bernoulli_context(batch, height, width, k, generator=g)
    elif sampling == "exact":
        observed = random_context(batch, height, width, k.long(), generator=g)
    else:
        raise ValueError(f"context sampling is 'bernoulli' or 'exact', got {sampling!r}")
    if hole_prob > 0:
        holes = torch.rand(batch, generator=g, device=device) < hole_prob
        observed = torch.where(holes[:, None, None, None], random_holes(batch, height, width, g), observed)
    if empty_prob > 0:
        empty = torch.rand(batch, generator=g, device=device) < empty_prob
        observed = observed & ~empty[:, None, None, None]
    return observed


def random_holes(batch: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """Per image a random square hole (side a quarter to three quarters of the shorter side, anywhere) or a random
    half (each of the four with probability 1/8): ``(B, 1, H, W)`` bool, True = observed.

    Every image draws the same numbers, as tensors on the generator's device: no Python loop, no wait for a GPU.
    """
    g, device = generator, generator.device
    short = min(height, width)
    is_half = torch.rand(batch, generator=g, device=device) < 0.5
    keep = torch.randint(4, (batch,), generator=g, device=device)  # top, bottom, left, right
    side = torch.randint(max(1, short // 4), 3 * short // 4 + 1, (batch,), generator=g, device=device)
    top = (torch.rand(batch, generator=g, device=device) * (height - side + 1)).floor().long()
    left = (torch.rand(batch, generator=g, device=device) * (width - side + 1)).floor().long()
    yy = torch.arange(height, device=device)[None, :, None]  # (1, H, 1)
    xx = torch.arange(width, device=device)[None, None, :]  # (1, 1, W)
    b = lambda t: t[:, None, None]  # noqa: E731 - (B,) -> (B, 1, 1)
    square = (yy >= b(top)) & (yy < b(top + side)) & (xx >= b(left)) & (xx < b(left + side))
    kinds = ("top", "bottom", "left", "right")
    halves = torch.stack([half(height, width, k, device) for k in kinds])[keep]  # (B, H, W): the kept half of each
    return torch.where(b(is_half), halves, ~square)[:, None]
