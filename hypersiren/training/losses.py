"""The prior's training loss (SIREN supplement Sec. 9; official ``image_hypernetwork_loss``): MSE on all
rendered pixels + ``latent_reg * mean(latent^2)`` + ``param_reg * mean(generated^2)``, with the paper's
weights 0.1 and 100 as defaults. The training context (which pixels the encoder sees) is drawn by
:func:`hypersiren.masks.sample_observed`.

``missing_weight`` (our option, not the paper's, off by default) balances the MSE per image between the pixels
the encoder did not see and those it saw: at 1,000 of 1,024 pixels observed the plain mean is almost all
reconstruction. Measured at equal time on the grid prior it did not help inpainting (0.5 and 0.8 lost or tied
at every context level; docs/results.md), so no shipped config uses it.

``log_mse`` (ours, off by default) takes each image's log MSE instead (PSNR up to sign and scale): the plain mean
lets the sparse-context images, whose errors are 100x larger, decide the gradient, and the images with most pixels
observed, where the prior competes with classical interpolation, barely count. The shipped celeba32 is trained
with it and ``context_dense_prob``: +4.8 dB at 1000 context and +0.3 dB on the centre hole against the same
recipe without them, 100 context unchanged (docs/results.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from hypersiren.prior.model import HyperSirenOutput
from hypersiren.training.batches import Batch

LOG_EPS = 1e-5  # the floor of log_mse, in the model's [-1, 1] units (56 dB on [0, 1])


class LossTerms(NamedTuple):
    """The total loss and its parts, each a scalar tensor (the keys of the training log).

    Attributes:
        total: ``mse + latent_reg * latent_sq + param_reg * params_sq``.
        mse: over the rendered pixels and channels (per image weighted between missing and observed pixels
            when ``missing_weight`` is given).
        latent_sq: the mean square of every latent element (the encoder's output).
        params_sq: the mean square of every generated element (``Generated.tensors()``: weights, modulations).
        flow: the sampler's flow-matching loss, mean over images (0 outside sampler training:
            :func:`sampler_loss`).
        offgrid: the plain MSE over the off-lattice points (0 without them); ``mse`` is then the lattice's.
    """

    total: torch.Tensor
    mse: torch.Tensor
    latent_sq: torch.Tensor
    params_sq: torch.Tensor
    flow: torch.Tensor | float = 0.0
    offgrid: torch.Tensor | float = 0.0


def prior_loss(
    out: HyperSirenOutput,
    images: torch.Tensor,
    *,
    latent_reg: float = 0.1,
    param_reg: float = 100.0,
    seen: torch.Tensor | None = None,
    missing_weight: float | None = None,
    log_mse: bool = False,
    lattice: int | None = None,
    offgrid_weight: float | None = 1.0,
) -> LossTerms:
    """The paper's loss for a batch.

    Args:
        out: the model's output for ``images``.
        images: the ground truth in [-1, 1], shaped like ``out.images`` (``(B, C, H, W)``, or ``(B, C, S)``
            when the model rendered a pixel subset).
        seen: which rendered pixels the encoder observed, ``(B, 1, H, W)`` or ``(B, 1, S)`` bool like ``images``;
            needed by ``missing_weight`` only.
        missing_weight: None (the paper): the plain mean. ``w`` in [0, 1]: each image's error is
            ``w * mean(missing) + (1 - w) * mean(observed)``; an image with no missing (or no observed) rendered
            pixel takes the plain mean of the group it has.
        log_mse: the data term is ``mean_b log(mse_b + 1e-5)``, each image's log MSE (its PSNR up to sign and
            scale), instead of the MSE: every image weighs by its relative error, so an image with little left to
            fill (most pixels observed) is not drowned by the sparse ones. ``mse`` still reports the plain MSE.
        lattice: with off-lattice points (:mod:`hypersiren.training.batches`), how many of the rendered points come
            first and are the model's pixel centres: the data term is then the lattice's (as above) plus
            ``offgrid_weight`` times the same term over the off-lattice points, each image's two errors apart (a
            log MSE over both together would be ruled by the off-lattice error, which the model's pixels cannot
            fully predict, and no longer weigh the nearly complete images by their own small error).
    """
    if lattice is not None:
        on = out._replace(images=out.images[..., :lattice])
        seen_on = None if seen is None else seen[..., :lattice]
        terms = prior_loss(
            on,
            images[..., :lattice],
            latent_reg=latent_reg,
            param_reg=param_reg,
            seen=seen_on,
            missing_weight=missing_weight,
            log_mse=log_mse,
        )
        error = (out.images[..., lattice:].float() - images[..., lattice:]) ** 2
        per_image = error.flatten(1).mean(1)
        off = torch.log(per_image + LOG_EPS).mean() if log_mse else per_image.mean()
        return terms._replace(total=terms.total + offgrid_weight * off, offgrid=per_image.mean())
    error = (out.images.float() - images) ** 2
    if missing_weight is None:
        per_image = error.flatten(1).mean(1)
    else:
        if seen is None:
            raise ValueError("missing_weight needs seen (which rendered pixels were observed)")
        per_image = balanced_mean(error, seen, missing_weight)
    mse = per_image.mean()
    data = torch.log(per_image + LOG_EPS).mean() if log_mse else mse
    latent_sq = _mean_square(out.latent.tensors())
    params_sq = _mean_square(out.generated.tensors())
    total = data + latent_reg * latent_sq + param_reg * params_sq
    return LossTerms(total, mse, latent_sq, params_sq)


def sampler_loss(out: HyperSirenOutput) -> LossTerms:
    """The sampler's loss for a batch (:mod:`hypersiren.prior.sampler`): its flow-matching loss, mean over images;
    the mean prior's terms are zero (it is fixed while the sampler trains)."""
    if out.sampler is None:
        raise ValueError("sampler_loss needs the model's sampler training path (forward with truth=)")
    flow = out.sampler.loss.mean()
    zero = flow.new_zeros(())
    return LossTerms(flow, zero, zero, zero, flow)


def balanced_mean(error: torch.Tensor, seen: torch.Tensor, missing_weight: float) -> torch.Tensor:
    """``w * mean(error_b | missing) + (1 - w) * mean(error_b | observed)`` per image ``b``: ``(B,)``.

    Args:
        error: ``(B, C, ...)`` per-pixel errors.
        seen: ``(B, 1, ...)`` bool, True = observed, broadcast over channels.
        missing_weight: ``w`` in [0, 1]. An image whose rendered pixels are all of one group gives it the whole
            weight, so every image weighs the same.
    """
    if not 0.0 <= missing_weight <= 1.0:
        raise ValueError(f"missing_weight must lie in [0, 1], got {missing_weight}")
    if seen.shape[0] != error.shape[0] or seen.shape[2:] != error.shape[2:]:
        raise ValueError(f"seen {tuple(seen.shape)} does not match the errors {tuple(error.shape)}")
    per_pixel = error.mean(1).flatten(1)  # (B, P): mean over channels
    observed = seen[:, 0].flatten(1).to(per_pixel.dtype)
    missing = 1 - observed
    n_obs, n_miss = observed.sum(1, keepdim=True), missing.sum(1, keepdim=True)
    share_miss = torch.where(n_obs > 0, missing_weight, 1.0) * (n_miss > 0)  # one group alone takes it all
    share_obs = torch.where(n_miss > 0, 1 - missing_weight, 1.0) * (n_obs > 0)
    w = missing * share_miss / n_miss.clamp(min=1) + observed * share_obs / n_obs.clamp(min=1)
    return (w * per_pixel).sum(1)


def _mean_square(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The mean of the squares of every element of ``tensors``."""
    return sum(t.float().pow(2).sum() for t in tensors) / sum(t.numel() for t in tensors)


def step_loss(
    model: nn.Module,
    cfg,
    batch: Batch,
    noise: torch.Generator | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> LossTerms:
    """One training step's loss: the sampler's flow loss (``cfg.train_sampler``), else the prior's
    (:func:`prior_loss` with the config's weights); the model is called once, under ``autocast``.

    Args:
        model: the prior (a wrapped one is fine: it is only called).
        cfg: a training config (``train/celeba.py``'s ``TrainConfig``: ``train_sampler``, ``latent_reg``,
            ``param_reg``, ``missing_weight``, ``log_mse``, ``offgrid_weight``).
        batch: the step's :class:`~hypersiren.training.batches.Batch`.
        noise: the sampler's noise and times (seeded per step, for an exact resume).
    """
    with autocast():
        if cfg.train_sampler:  # the mean prior fixed; the flow learns the step's faces from their mean completions
            return sampler_loss(model(batch.images, batch.observed, truth=batch.images, generator=noise))
        if batch.points is not None:
            output = model(batch.images, batch.observed, points=batch.points, point_scales=batch.point_scales)
        else:
            output = model(batch.images, batch.observed, batch.pixels)
    return prior_loss(
        output,
        batch.target,
        latent_reg=cfg.latent_reg,
        param_reg=cfg.param_reg,
        seen=batch.seen,
        missing_weight=cfg.missing_weight,
        log_mse=cfg.log_mse,
        lattice=batch.lattice if cfg.offgrid_weight is not None else None,
        offgrid_weight=cfg.offgrid_weight,
    )
