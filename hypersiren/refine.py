"""Test-time refinement of a HyperSiren's completion on the observed pixels (an extension of SIREN Sec. 4.4).

The prior's encoder gives a latent in one pass; :func:`refine` then fits it (and optionally an offset on
every generated SIREN parameter / modulation) to the observed pixels with Adam, as auto-decoders and
meta-learned SIRENs do at test time. The paper reports no refinement: this is ours, off by default in
``eval/inpaint.py``. Only the observed pixels enter the loss, so the missing ones stay an honest test.

Each sample's loss is its own mean over its observed pixels; the batch objective is their sum, so every
sample follows the same trajectory whatever the batch size. The best iterate per sample is kept, so the
returned observed-pixel loss never exceeds the encoder's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

logger = logging.getLogger(__name__)


class RefineResult(NamedTuple):
    """What :func:`refine` returns.

    Attributes:
        latent: ``(B, D)`` the refined latent.
        generated: the refined per-sample SIREN (the model's ``Generated``).
        images: ``(B, C, H, W)`` the refined SIREN rendered on the input grid (not clamped).
        loss_before: ``(B,)`` observed-pixel MSE (model range) of the encoder's latent.
        loss_after: ``(B,)`` observed-pixel MSE after refinement (<= ``loss_before``).
    """

    latent: torch.Tensor
    generated: Any
    images: torch.Tensor
    loss_before: torch.Tensor
    loss_after: torch.Tensor


def observed_mse(pred: torch.Tensor, target: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE over the observed pixels (all channels); 0 for a sample with none.

    Args:
        pred, target: ``(B, C, H, W)``.
        observed: ``(B, 1, H, W)`` bool.

    Returns:
        ``(B,)``.
    """
    weight = observed.expand_as(pred).to(pred.dtype)
    return ((pred - target).square() * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1)


def map_generated(generated: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply ``fn`` to every tensor of a ``Generated`` NamedTuple (fields: tensors, dicts or tuples of them)."""

    def apply(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return fn(value)
        if isinstance(value, dict):
            return {k: apply(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
            return type(value)(apply(v) for v in value)
        return value

    return type(generated)(*(apply(v) for v in generated))


def _tensors(generated: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    map_generated(generated, lambda t: found.append(t) or t)
    return found


def refine(
    model: nn.Module,
    images: torch.Tensor,
    observed: torch.Tensor,
    steps: int = 100,
    lr: float = 1e-2,
    weights: bool = False,
    latent: torch.Tensor | None = None,
) -> RefineResult:
    """Optimise the latent (and with ``weights`` an offset on every generated tensor) on observed pixels.

    Args:
        model: a HyperSiren (``encode``, ``generate``, ``decode``); its own parameters are not changed.
        images: ``(B, C, H, W)`` in [-1, 1]; only the observed pixels are read.
        observed: ``(B, 1, H, W)`` bool.
        steps: Adam steps (0 returns the encoder's completion).
        lr: Adam learning rate, shared by the latent and the offsets.
        weights: also optimise per-sample offsets (starting at 0) on the generated SIREN parameters /
            modulations: more freedom, more risk of overfitting the context.
        latent: ``(B, D)`` the start; default ``model.encode(images, observed)``.

    Returns:
        A :class:`RefineResult` holding the best iterate per sample.
    """
    height, width = images.shape[-2:]
    with torch.no_grad():
        start = model.encode(images, observed) if latent is None else latent
        start = start.detach().float().clone()
        template = model.generate(start)
    z = start.clone().requires_grad_(True)
    offsets = [torch.zeros_like(t, requires_grad=True) for t in _tensors(template)] if weights else []
    opt = torch.optim.Adam([z, *offsets], lr=lr)

    def evaluate() -> tuple[torch.Tensor, Any, torch.Tensor]:
        generated = model.generate(z)
        if offsets:
            it = iter(offsets)
            generated = map_generated(generated, lambda t: t + next(it))
        pred = model.decode(generated, height, width)  # (B, C, H, W)
        return observed_mse(pred, images, observed), generated, pred

    with torch.enable_grad():
        best_loss = best_z = best_offsets = None
        for step in range(steps + 1):
            loss, _, _ = evaluate()  # (B,), the loss of the current iterate
            per_sample = loss.detach()
            if best_loss is None:
                loss_before = per_sample.clone()
                best_loss, best_z = per_sample.clone(), z.detach().clone()
                best_offsets = [o.detach().clone() for o in offsets]
            else:
                better = per_sample < best_loss  # (B,)
                best_loss = torch.where(better, per_sample, best_loss)
                best_z[better] = z.detach()[better]
                for keep, o in zip(best_offsets, offsets, strict=True):
                    keep[better] = o.detach()[better]
            if step == steps:
                break
            grads = torch.autograd.grad(loss.sum(), [z, *offsets])  # only ours: model grads stay untouched
            for p, g in zip([z, *offsets], grads, strict=True):
                p.grad = g
            opt.step()
        logger.info("refined %d samples, %d steps: observed MSE %.5f -> %.5f", len(z), steps,
                    loss_before.mean().item(), best_loss.mean().item())  # fmt: skip

    with torch.no_grad():
        z.copy_(best_z)
        for o, keep in zip(offsets, best_offsets, strict=True):
            o.copy_(keep)
        loss, generated, pred = evaluate()
    generated = map_generated(generated, lambda t: t.detach())
    return RefineResult(z.detach(), generated, pred.detach(), loss_before, loss.detach())
