"""What a single-signal fit minimises and how its result is measured (paper Sec. 4.1).

- :func:`supervised_output`: the quantity a supervision compares with its target: the signal itself, its
  gradient or its Laplacian, through the fused / forward-mode derivatives of a :class:`hypersiren.Siren` or the
  official double backward (:mod:`hypersiren.siren.operators`).
- :func:`ritz_energy` and :func:`ritz_loss`: the Ritz energy of a Poisson problem, at one point drawn in each
  pixel's cell (see :mod:`hypersiren.fitting.loop` for why).
- :func:`mse_loss`: the MSE of the other supervisions, a shape mismatch being an error.
- :func:`align`: least-squares scale and offset, since derivatives fix an image only up to them.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from hypersiren.siren import operators
from hypersiren.siren.derivatives import forward_derivatives
from hypersiren.siren.fused_gradient import value_and_gradient
from hypersiren.siren.network import Siren


def align(prediction: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Least-squares scale and offset per channel: ``a * prediction + b`` closest to ``reference``.

    Args:
        prediction: ``(N, C)``.
        reference: ``(N, C)``.
    """
    p = prediction.detach().double()
    r = reference.double()
    p_c, r_c = p - p.mean(0), r - r.mean(0)
    scale = (p_c * r_c).sum(0) / (p_c * p_c).sum(0).clamp_min(1e-30)
    return (scale * p_c + r.mean(0)).to(prediction.dtype)


def supervised_output(
    model: nn.Module, coords: torch.Tensor, supervise: str, autocast: bool, derivatives: str = "fused"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(signal prediction ``(N, C)``, the quantity compared with the target: ``(N, C)``, ``(N, D)`` or ``(N, 1)``)."""
    bf16 = torch.autocast(coords.device.type, torch.bfloat16) if autocast else contextlib.nullcontext()
    if supervise == "value":
        with bf16:
            out = model(coords)
        return out, out.float()
    if derivatives != "autograd" and isinstance(model, Siren) and model.out_features == 1:
        with bf16:
            if supervise == "gradient" and derivatives == "fused":
                res = value_and_gradient(model, coords)
            else:
                res = forward_derivatives(model, coords, laplacian=supervise == "laplacian")
        derived = res.gradient[:, 0] if supervise == "gradient" else res.laplacian
        return res.value, derived.float()
    coords = coords.detach().requires_grad_(True)
    out = model(coords)
    if supervise == "gradient":
        return out, operators.gradient(out, coords)
    return out, operators.laplacian(out, coords)


def ritz_energy(value: torch.Tensor, gradient: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """The Ritz energy of ``lap(u) = source``, averaged over the points: ``mean(1/2 |grad u|^2 + source u)``.

    Args:
        value: ``(N, 1)`` values of ``u``.
        gradient: ``(N, D)`` its input gradient.
        source: ``(N, 1)`` the target Laplacian.
    """
    if value.shape != source.shape or gradient.shape[0] != value.shape[0]:
        shapes = f"value {tuple(value.shape)}, gradient {tuple(gradient.shape)}, source {tuple(source.shape)}"
        raise ValueError(f"ritz supervision needs (N, 1) values and sources and (N, D) gradients, got {shapes}")
    return (0.5 * gradient.float().pow(2).sum(-1, keepdim=True) + source * value.float()).mean()


def ritz_loss(
    model: nn.Module,
    coords: torch.Tensor,
    source: torch.Tensor,
    cell: torch.Tensor,
    generator: torch.Generator,
    bf16: bool,
    derivatives: str,
) -> torch.Tensor:
    """:func:`ritz_energy` at one point drawn uniformly in each coordinate's cell (``coords +- cell / 2``)."""
    jitter = (torch.rand(coords.shape, generator=generator, device=coords.device) - 0.5) * cell
    value, gradient = supervised_output(model, coords + jitter, "gradient", bf16, derivatives)
    return ritz_energy(value, gradient, source)


def mse_loss(derived: torch.Tensor, target: torch.Tensor, supervise: str) -> torch.Tensor:
    """The training loss; a shape mismatch is an error, not a broadcast."""
    if derived.shape != target.shape:
        shapes = f"the model gives {tuple(derived.shape)}, the target is {tuple(target.shape)}"
        raise ValueError(f"{supervise} supervision: {shapes}")
    return ((derived - target) ** 2).mean()
