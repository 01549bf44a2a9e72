"""Test-time refinement of a HyperSiren's completion on the observed pixels (an extension of SIREN Sec. 4.4).

The prior's encoder gives a latent in one pass; :func:`refine` then fits it (and optionally an offset on
every generated SIREN parameter / modulation) to the observed pixels with Adam, as auto-decoders and
meta-learned SIRENs do at test time. The paper reports no refinement: this is ours, off by default in
``eval/inpaint.py``. Only the observed pixels enter the loss, so the missing ones stay an honest test.

Fitting the observed pixels alone drifts the latent away from what the prior knows and makes the hole
worse (measured). Two guards, both per sample:

- ``anchor``: the objective is ``observed MSE + anchor * mean((z - z_encoder)^2)`` over every latent
  element, which keeps the latent near the encoder's (a Gaussian prior centred on the amortised guess);
- ``holdout``: a random share of the observed pixels is left out of the fit, and the iterate kept is the one
  with the lowest error on them (early stopping on pixels the fit did not see), the encoder's included.

Each sample's objective is its own mean; the batch objective is their sum, so every sample follows the same
trajectory whatever the batch size.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import torch
from torch import nn

from hypersiren.metrics.image import mse
from hypersiren.prior.latent import Generated, Latent

logger = logging.getLogger(__name__)


class RefineResult(NamedTuple):
    """What :func:`refine` returns.

    Attributes:
        latent: the refined :class:`~hypersiren.prior.latent.Latent`.
        generated: the refined per-sample SIREN.
        images: ``(B, C, H, W)`` the refined SIREN rendered on the input grid (not clamped).
        loss_before: ``(B,)`` the selection loss (held-out observed-pixel MSE with ``holdout``, else the
            objective) of the encoder's latent.
        loss_after: ``(B,)`` the same loss of the kept iterate (<= ``loss_before``).
    """

    latent: Latent
    generated: Generated
    images: torch.Tensor
    loss_before: torch.Tensor
    loss_after: torch.Tensor


def split_holdout(observed: torch.Tensor, share: float, generator: torch.Generator | None = None):
    """Split the observed pixels into a fitted set and a held-out set of about ``share`` of them.

    Returns:
        ``(fit, held)``, each ``(B, 1, H, W)`` bool; a sample keeps at least one fitted pixel when it has any.
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"holdout must lie in [0, 1), got {share}")
    held = observed & (torch.rand(observed.shape, generator=generator).to(observed.device) < share)
    fit = observed & ~held
    empty = fit.flatten(1).sum(1) == 0
    fit[empty], held[empty] = observed[empty], False  # too few pixels to hold any out
    return fit, held


def _per_sample_mean_square(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``(B,)``: the mean square over every element of each sample's tensors."""
    total = sum(t.float().square().flatten(1).sum(1) for t in tensors)
    return total / sum(t[0].numel() for t in tensors)


def refine(
    model: nn.Module,
    images: torch.Tensor,
    observed: torch.Tensor,
    steps: int = 100,
    lr: float = 1e-2,
    weights: bool = False,
    latent: Latent | None = None,
    anchor: float = 0.0,
    holdout: float = 0.0,
    generator: torch.Generator | None = None,
) -> RefineResult:
    """Optimise the latent (and with ``weights`` an offset on every generated tensor) on observed pixels.

    Args:
        model: a HyperSiren (``encode``, ``generate``, ``decode``); its own parameters are not changed.
        images: ``(B, C, H, W)`` in [-1, 1]; only the observed pixels are read.
        observed: ``(B, 1, H, W)`` bool.
        steps: Adam steps (0 returns the encoder's completion).
        lr: Adam learning rate, shared by the latent and the offsets.
        weights: also optimise per-sample offsets (starting at 0) on the generated tensors: more freedom,
            more risk of overfitting the context.
        latent: the start; default ``model.encode(images, observed)``.
        anchor: weight of ``mean((z - z_start)^2)`` (and of the offsets' mean square) in the objective.
        holdout: share of the observed pixels left out of the fit and used to pick the iterate kept.
        generator: draws the held-out pixels.

    Returns:
        A :class:`RefineResult` holding the kept iterate per sample.
    """
    height, width = images.shape[-2:]
    fit_pixels, held = split_holdout(observed, holdout, generator) if holdout > 0 else (observed, None)
    with torch.no_grad():
        start = model.encode(images, observed) if latent is None else latent
        start = start.map(lambda t: t.detach().float().clone())
        template = model.generate(start)
    z = [t.clone().requires_grad_(True) for t in start.tensors()]
    offsets = [torch.zeros_like(t, requires_grad=True) for t in template.tensors()] if weights else []
    opt = torch.optim.Adam([*z, *offsets], lr=lr)

    def evaluate() -> tuple[torch.Tensor, torch.Tensor, Generated, torch.Tensor]:
        current = Latent(*z)
        generated = model.generate(current)
        if offsets:
            it = iter(offsets)
            generated = generated.map(lambda t: t + next(it))
        pred = model.decode(generated, height, width)  # (B, C, H, W)
        objective = mse(pred, images, fit_pixels, empty=0.0)  # a sample with no pixel to fit asks for nothing
        if anchor > 0:
            drift = [a - b for a, b in zip(z, start.tensors(), strict=True)] + offsets
            objective = objective + anchor * _per_sample_mean_square(drift)
        select = mse(pred, images, held, empty=0.0) if held is not None else objective
        return objective, select.detach(), generated, pred

    with torch.enable_grad():
        best = None
        for step in range(steps + 1):
            objective, select, _, _ = evaluate()
            if best is None:
                loss_before, best = select.clone(), select.clone()
                kept = [t.detach().clone() for t in [*z, *offsets]]
            else:
                better = select < best  # (B,)
                best = torch.where(better, select, best)
                for keep, t in zip(kept, [*z, *offsets], strict=True):
                    keep[better] = t.detach()[better]
            if step == steps:
                break
            grads = torch.autograd.grad(objective.sum(), [*z, *offsets])  # only ours: model grads stay untouched
            for p, g in zip([*z, *offsets], grads, strict=True):
                p.grad = g
            opt.step()
        logger.info(
            "refined %d samples, %d steps: selection loss %.5f -> %.5f",
            len(images),
            steps,
            loss_before.mean().item(),
            best.mean().item(),
        )

    with torch.no_grad():
        for t, keep in zip([*z, *offsets], kept, strict=True):
            t.copy_(keep)
        _, select, generated, pred = evaluate()
    return RefineResult(
        Latent(*(t.detach() for t in z)), generated.map(torch.Tensor.detach), pred.detach(), loss_before, select
    )
