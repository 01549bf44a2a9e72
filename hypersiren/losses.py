"""The prior's training loss and its context sampling (SIREN supplement Sec. 9; official
``image_hypernetwork_loss``): MSE on all pixels + ``latent_reg * mean(latent^2)``
+ ``param_reg * mean(generated^2)``, with the paper's weights 0.1 and 100 as defaults.

Context: the paper draws k ~ U[10, 200) per image and lets the CNN encoder observe each pixel with
probability k / (H W) (``bernoulli``); ``exact`` observes exactly k pixels. Our extensions, off by
default: k drawn log-uniformly, and a share of structured holes (a centred-ish square or a half) so the
prior also learns the large-hole completions it is evaluated on.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from hypersiren import masks
from hypersiren.model import HyperSirenOutput


class LossTerms(NamedTuple):
    """The total loss and its parts (each a scalar tensor)."""

    total: torch.Tensor
    mse: torch.Tensor
    latent: torch.Tensor
    params: torch.Tensor


def prior_loss(
    out: HyperSirenOutput, images: torch.Tensor, latent_reg: float = 0.1, param_reg: float = 100.0
) -> LossTerms:
    """The paper's loss for a batch.

    Args:
        out: the model's output for ``images``.
        images: the ground truth in [-1, 1], shaped like ``out.images`` (``(B, C, H, W)``, or ``(B, C, S)``
            when the model rendered a pixel subset).
    """
    mse = torch.mean((out.images.float() - images) ** 2)
    latent = _mean_square(out.latent.tensors())
    params = _mean_square(out.generated.tensors())
    return LossTerms(mse + latent_reg * latent + param_reg * params, mse, latent, params)


def _mean_square(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The mean of the squares of every element of ``tensors``."""
    return sum(t.float().pow(2).sum() for t in tensors) / sum(t.numel() for t in tensors)


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
) -> torch.Tensor:
    """Training context for a batch: ``(B, 1, H, W)`` bool, True = observed.

    Args:
        context_min, context_max: k is drawn from [context_min, context_max) per image.
        sampling: ``bernoulli`` (each pixel with probability k / (H W), the official CNN path) or
            ``exact`` (exactly k pixels).
        log_uniform: draw k log-uniformly instead of uniformly.
        hole_prob: share of images that instead get a structured hole: a square of random side
            (a quarter to three quarters of the image) at a random place, or a random half.
    """
    n = height * width
    lo, hi = max(1, context_min), min(context_max, n + 1)
    if lo >= hi:
        raise ValueError(f"context range [{context_min}, {context_max}) is empty for {height}x{width} images")
    u = torch.rand(batch, generator=generator)
    if log_uniform:
        k = torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))).floor().clamp(lo, hi - 1)
    else:
        k = (lo + u * (hi - lo)).floor()
    if sampling == "bernoulli":
        observed = masks.bernoulli_context(batch, height, width, k, generator=generator)
    elif sampling == "exact":
        observed = masks.random_context(batch, height, width, k.long(), generator=generator)
    else:
        raise ValueError(f"context sampling is 'bernoulli' or 'exact', got {sampling!r}")
    holes = torch.rand(batch, generator=generator) < hole_prob
    for i in torch.nonzero(holes).flatten().tolist():
        observed[i, 0] = _random_hole(height, width, generator)
    return observed


def _random_hole(height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """A random square hole or a random half, ``(H, W)`` bool."""
    if torch.rand((), generator=generator) < 0.5:
        return masks.half(
            height, width, keep=("top", "bottom", "left", "right")[int(torch.randint(4, (), generator=generator))]
        )
    side = int(torch.randint(max(1, min(height, width) // 4), 3 * min(height, width) // 4 + 1, (), generator=generator))
    top = int(torch.randint(0, height - side + 1, (), generator=generator))
    left = int(torch.randint(0, width - side + 1, (), generator=generator))
    observed = torch.ones(height, width, dtype=torch.bool)
    observed[top : top + side, left : left + side] = False
    return observed
