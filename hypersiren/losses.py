"""The prior's training loss (SIREN supplement Sec. 9; official ``image_hypernetwork_loss``): MSE on all
rendered pixels + ``latent_reg * mean(latent^2)`` + ``param_reg * mean(generated^2)``, with the paper's
weights 0.1 and 100 as defaults. The training context (which pixels the encoder sees) is drawn by
:func:`hypersiren.masks.sample_observed`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from hypersiren.model import HyperSirenOutput


class LossTerms(NamedTuple):
    """The total loss and its parts, each a scalar tensor (the keys of the training log).

    Attributes:
        total: ``mse + latent_reg * latent_sq + param_reg * params_sq``.
        mse: over the rendered pixels and channels.
        latent_sq: the mean square of every latent element (the encoder's output).
        params_sq: the mean square of every generated element (``Generated.tensors()``: weights, modulations).
    """

    total: torch.Tensor
    mse: torch.Tensor
    latent_sq: torch.Tensor
    params_sq: torch.Tensor


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
    latent_sq = _mean_square(out.latent.tensors())
    params_sq = _mean_square(out.generated.tensors())
    return LossTerms(mse + latent_reg * latent_sq + param_reg * params_sq, mse, latent_sq, params_sq)


def _mean_square(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The mean of the squares of every element of ``tensors``."""
    return sum(t.float().pow(2).sum() for t in tensors) / sum(t.numel() for t in tensors)
