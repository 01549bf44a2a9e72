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
    if empty_prob > 0:
        empty = torch.rand(batch, generator=generator) < empty_prob
        observed &= ~empty[:, None, None, None]
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
