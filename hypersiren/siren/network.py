"""SIREN: sine-activated MLPs (Sitzmann et al. 2020, Sec. 3.2 and supplement Sec. 1).

Semantics and initialisation follow the official code (vsitzmann/siren, ``modules.py``): every sine
layer computes ``sin(omega_0 * (W x + b))``; first-layer weights are U(-1/n_in, 1/n_in), later weights
U(-sqrt(6/n_in)/omega_0, +); biases keep the ``nn.Linear`` default; the output layer is linear with the
hidden initialisation. (The paper's first-layer formula differs; the authors confirmed the code.)

Deviations, for speed only (same function and gradient):

- ``omega_0`` is folded into the (small) weight matrix and bias before the matmul instead of multiplying
  the (large) pre-activation.
- When a SIREN is trained on its own parameters with coordinates that need no gradient (fitting a
  signal), each sine layer is one autograd Function (:class:`_SineLayerFunction`): the bias rides in the
  matmul (``addmm``) and the backward builds ``cos(z) * grad`` in a single new buffer instead of two.
  It is differentiable once; every other case (coordinates with ``requires_grad`` for derivative
  losses, per-sample ``params``, ``modulations``, parameters that are not leaves as in meta-learning)
  takes the plain, twice-differentiable path.

Per-sample parameters (from a hypernetwork) are evaluated for the whole batch with batched matmuls;
see :meth:`Siren.forward`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.autograd.function import once_differentiable


def first_layer_bound(in_features: int) -> float:
    """Half-width of the uniform init of a SIREN's first-layer weights."""
    return 1.0 / in_features


def hidden_layer_bound(in_features: int, omega_0: float) -> float:
    """Half-width of the uniform init of a SIREN's hidden (and output) weights."""
    return math.sqrt(6.0 / in_features) / omega_0


def bias_bound(in_features: int) -> float:
    """Half-width of ``nn.Linear``'s default bias init, kept by SIREN."""
    return 1.0 / math.sqrt(in_features)


class SineLayer(nn.Module):
    """``sin(omega_0 * (W x + b))`` with SIREN initialisation.

    Args:
        in_features: input width.
        out_features: output width.
        omega_0: frequency factor (30 in the paper; 3000 for the first layer on audio).
        is_first: use the first-layer init U(-1/n_in, 1/n_in).
    """

    def __init__(self, in_features: int, out_features: int, omega_0: float = 30.0, is_first: bool = False) -> None:
        super().__init__()
        self.omega_0 = float(omega_0)
        self.is_first = is_first
        self.linear = nn.Linear(in_features, out_features)
        bound = first_layer_bound(in_features) if is_first else hidden_layer_bound(in_features, omega_0)
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., in_features)`` -> ``(..., out_features)``."""
        return torch.sin(nn.functional.linear(x, self.omega_0 * self.linear.weight, self.omega_0 * self.linear.bias))


class _SineLayerFunction(torch.autograd.Function):
    """``sin(x (omega W)^T + omega b)`` with a lean backward; see the module docstring."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, omega: float) -> torch.Tensor:
        w = weight * omega
        z = torch.addmm(bias * omega, x, w.t())  # (N, O); under autocast this runs in its dtype
        ctx.save_for_backward(x, w, z)
        ctx.omega, ctx.param_dtype = omega, weight.dtype
        return torch.sin(z)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: torch.Tensor):
        x, w, z = ctx.saved_tensors
        dz = torch.cos(z).mul_(grad_h)  # (N, O): the only large buffer the backward allocates
        grad_x = dz.mm(w.to(dz.dtype)).to(x.dtype) if ctx.needs_input_grad[0] else None
        grad_w = dz.t().mm(x.to(dz.dtype)).to(ctx.param_dtype).mul_(ctx.omega) if ctx.needs_input_grad[1] else None
        grad_b = dz.sum(0, dtype=ctx.param_dtype).mul_(ctx.omega) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Shared or per-sample affine map.

    Args:
        x: ``(N, I)`` shared or ``(B, N, I)`` per sample.
        weight: ``(O, I)`` shared or ``(B, O, I)`` per sample.
        bias: ``(O,)`` or ``(B, O)``.

    Returns:
        ``(N, O)`` when everything is shared, else ``(B, N, O)``.
    """
    if weight.dim() == 2:
        return nn.functional.linear(x, weight, bias)
    if x.dim() == 2:  # shared coordinates, per-sample weights: (B, N, I) view without a copy
        x = x.unsqueeze(0).expand(weight.shape[0], -1, -1)
    bias = bias.unsqueeze(1) if bias.dim() == 2 else bias
    return torch.baddbmm(bias, x, weight.transpose(1, 2))  # (B, N, O)


class Siren(nn.Module):
    """A SIREN: ``hidden_layers + 1`` sine layers, then a linear output layer.

    Args:
        in_features: coordinate dimension (2 for images).
        hidden_features: width of every hidden layer.
        hidden_layers: number of hidden-to-hidden sine layers (the paper's 256 x 3 has 3; 5 linear
            layers in all).
        out_features: signal channels.
        first_omega_0: frequency factor of the first layer.
        hidden_omega_0: frequency factor of the other sine layers.
    """

    def __init__(
        self,
        in_features: int = 2,
        hidden_features: int = 256,
        hidden_layers: int = 3,
        out_features: int = 1,
        first_omega_0: float = 30.0,
        hidden_omega_0: float = 30.0,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        layers: list[nn.Module] = [SineLayer(in_features, hidden_features, first_omega_0, is_first=True)]
        layers += [SineLayer(hidden_features, hidden_features, hidden_omega_0) for _ in range(hidden_layers)]
        self.net = nn.Sequential(*layers)
        self.last = nn.Linear(hidden_features, out_features)
        bound = hidden_layer_bound(hidden_features, hidden_omega_0)
        with torch.no_grad():
            self.last.weight.uniform_(-bound, bound)

    def _fast_path_ok(self, coords: torch.Tensor, params, modulations) -> bool:
        """Fitting this module's own leaf parameters, first-order only: see the module docstring."""
        if params or modulations is not None or coords.dim() != 2 or coords.requires_grad:
            return False
        if not torch.is_grad_enabled():
            return False
        weights = [layer.linear.weight for layer in self.net] + [layer.linear.bias for layer in self.net]
        return all(p.is_leaf for p in weights) and any(p.requires_grad for p in weights)

    @property
    def omegas(self) -> list[float]:
        """The frequency factor of each sine layer, in order."""
        return [layer.omega_0 for layer in self.net]

    def forward(
        self,
        coords: torch.Tensor,
        params: Mapping[str, torch.Tensor] | None = None,
        modulations: Sequence[tuple[torch.Tensor | None, torch.Tensor | None]] | None = None,
    ) -> torch.Tensor:
        """Evaluate the SIREN, optionally with per-sample parameters or per-layer modulations.

        Args:
            coords: ``(N, in_features)`` shared by the batch, or ``(B, N, in_features)``.
            params: per-sample replacements for some or all entries of ``named_parameters()``,
                each ``(B, *shape)``; missing entries use the module's own (shared) parameters.
            modulations: one ``(scale, shift)`` pair per sine layer, each ``(B, hidden_features)`` (per
                sample), ``(B, N, hidden_features)`` (per sample and point) or None, applied to the
                pre-activation: ``sin(omega_0 * (scale * (W x + b) + shift))``.

        Returns:
            ``(N, out_features)`` when nothing is per-sample, else ``(B, N, out_features)``.
        """
        if self._fast_path_ok(coords, params, modulations):
            h = coords
            for layer in self.net:
                h = _SineLayerFunction.apply(h, layer.linear.weight, layer.linear.bias, layer.omega_0)
            return nn.functional.linear(h, self.last.weight, self.last.bias)
        params = params or {}
        h = coords
        for i, layer in enumerate(self.net):
            w = params.get(f"net.{i}.linear.weight", layer.linear.weight)
            b = params.get(f"net.{i}.linear.bias", layer.linear.bias)
            z = _linear(h, w * layer.omega_0, b * layer.omega_0)  # omega folded into the small tensors
            if modulations is not None:
                scale, shift = modulations[i]
                if z.dim() == 2 and (scale is not None or shift is not None):
                    z = z.unsqueeze(0)  # shared pre-activation, (1, N, F): computed once for the batch
                if scale is not None:
                    z = z * (scale.unsqueeze(1) if scale.dim() == 2 else scale)
                if shift is not None:
                    z = torch.add(z, shift.unsqueeze(1) if shift.dim() == 2 else shift, alpha=layer.omega_0)
            h = torch.sin(z)
        return _linear(h, params.get("last.weight", self.last.weight), params.get("last.bias", self.last.bias))
