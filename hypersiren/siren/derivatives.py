"""Forward-mode derivatives of a SIREN: value, input gradient and Laplacian in one pass (paper Sec. 3.1, 4.1).

A SIREN's derivative is itself a SIREN-like network. With ``z = W h + b`` and ``h' = sin(z)``, the input
Jacobian and the Laplacian of every layer follow from the previous layer's (chain rule, carried forward):

    dz/dx_d = W dh/dx_d                        dh'/dx_d = cos(z) * dz/dx_d
    lap(z)  = W lap(h)                         lap(h')  = cos(z) * lap(z) - sin(z) * sum_d (dz/dx_d)^2

so one forward over ``1 + D`` (gradient) or ``2 + D`` (Laplacian) streams of the hidden width, then one
ordinary backward, replaces the official code's autograd through autograd (``diff_operators.py``: a
double backward of every sine layer, or ``D + 1`` for the Laplacian). The result is exact: it is the same
function of the parameters, evaluated in another order. Streams are stacked along a leading dimension
``K`` so that each layer's ``K`` matmuls are one matmul.

Two implementations, one function (:func:`forward_derivatives`):

- a generic one in plain torch ops, for per-sample ``params`` and ``modulations`` (the same arguments as
  :meth:`hypersiren.Siren.forward`) and for parameters that are not leaves: differentiable any number of
  times, as the autograd operators are;
- fused sine layers (:mod:`hypersiren.siren.derivative_layers`) for fitting a SIREN's own parameters, with a
  hand-written backward that reuses ``sin`` and ``cos`` and allocates few large buffers; differentiable once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch

from hypersiren.siren.derivative_layers import first_sine_streams, hidden_sine_streams
from hypersiren.siren.network import Siren, _linear


class Derivatives(NamedTuple):
    """A SIREN's output and its derivatives with respect to the input coordinates.

    Attributes:
        value: ``(*, N, C)``, as :meth:`hypersiren.Siren.forward` returns it.
        gradient: ``(*, N, C, D)``: ``gradient[..., c, d]`` is d value_c / d x_d.
        laplacian: ``(*, N, C)``, or None when not requested.
    """

    value: torch.Tensor
    gradient: torch.Tensor
    laplacian: torch.Tensor | None


def _streams_linear(t: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Linear map without bias of stacked derivative streams.

    Args:
        t: ``(K, N, I)`` shared or ``(K, B, N, I)`` per sample.
        weight: ``(O, I)`` shared or ``(B, O, I)`` per sample.

    Returns:
        ``(K, N, O)`` when both are shared, else ``(K, B, N, O)``.
    """
    if weight.dim() == 3 and t.dim() == 3:
        t = t.unsqueeze(1)  # (K, 1, N, I): broadcast over the batch of weights
    return torch.matmul(t, weight.transpose(-1, -2))


def _per_point(m: torch.Tensor) -> torch.Tensor:
    """A modulation ``(B, F)`` as ``(B, 1, F)``; a per-point one ``(B, N, F)`` as it is."""
    return m.unsqueeze(-2) if m.dim() == 2 else m


def _fused_ok(siren: Siren, coords: torch.Tensor, params, modulations) -> bool:
    """Shared leaf parameters, shared coordinates that need no gradient: the fused layers apply."""
    if params or modulations is not None or coords.dim() != 2 or coords.requires_grad:
        return False
    return all(p.is_leaf for p in siren.parameters())


def forward_derivatives(
    siren: Siren,
    coords: torch.Tensor,
    params: Mapping[str, torch.Tensor] | None = None,
    modulations: Sequence[tuple[torch.Tensor | None, torch.Tensor | None]] | None = None,
    laplacian: bool = False,
) -> Derivatives:
    """Value, input gradient and (optionally) Laplacian of a SIREN, by forward-mode differentiation.

    Args:
        siren: the network; its parameters are used where ``params`` has no entry.
        coords: ``(N, D)`` shared by the batch, or ``(B, N, D)``.
        params: per-sample parameters, each ``(B, *shape)``, as for :meth:`hypersiren.Siren.forward`.
        modulations: one ``(scale, shift)`` pair per sine layer, each ``(B, F)``, ``(B, N, F)`` or None,
            as for :meth:`hypersiren.Siren.forward`.
        laplacian: also carry the second derivatives forward and return the Laplacian.

    Returns:
        :class:`Derivatives`: value ``(*, N, C)``, gradient ``(*, N, C, D)``, Laplacian ``(*, N, C)``
        or None, where ``*`` is ``B`` when anything is per sample and empty otherwise.
    """
    if coords.shape[-1] != siren.in_features:
        raise ValueError(f"coords have {coords.shape[-1]} coordinates, the SIREN takes {siren.in_features}")
    if modulations is not None and len(modulations) != len(siren.net):
        raise ValueError(f"need one (scale, shift) pair per sine layer ({len(siren.net)}), got {len(modulations)}")
    d = coords.shape[-1]
    if _fused_ok(siren, coords, params, modulations):
        first = siren.net[0]
        h = first_sine_streams(coords, first.linear.weight, first.linear.bias, first.omega_0, laplacian)
        for layer in siren.net[1:]:
            h = hidden_sine_streams(h, layer.linear.weight, layer.linear.bias, layer.omega_0, d, laplacian)
        out = torch.matmul(h, siren.last.weight.t())  # (K, N, C): the output layer is linear
        value = out[0] + siren.last.bias
        return Derivatives(value, out[1 : 1 + d].permute(1, 2, 0), out[1 + d] if laplacian else None)
    return _generic(siren, coords, params or {}, modulations, laplacian)


def _generic(siren: Siren, coords: torch.Tensor, params, modulations, laplacian: bool) -> Derivatives:
    """:func:`forward_derivatives` in plain torch ops (twice differentiable); see the module docstring."""
    h = coords  # (N, D) or (B, N, D)
    tangents = lap = None  # (D, *, N, F) and (*, N, F); None at the input, where dx/dx = I and lap(x) = 0
    for i, layer in enumerate(siren.net):
        w = params.get(f"net.{i}.linear.weight", layer.linear.weight) * layer.omega_0  # (F, I) or (B, F, I)
        b = params.get(f"net.{i}.linear.bias", layer.linear.bias) * layer.omega_0
        z = _linear(h, w, b)  # (N, F) or (B, N, F)
        if tangents is None:  # dz/dx_d = column d of W: (D, 1, F) or (D, B, 1, F), the same at every point
            dz, lap_z = w.movedim(-1, 0).unsqueeze(-2), None
        else:
            dz = _streams_linear(tangents, w)  # (D, *, N, F)
            lap_z = _streams_linear(lap[None], w)[0] if laplacian else None
        scale, shift = modulations[i] if modulations is not None else (None, None)
        if scale is not None:
            z = z * _per_point(scale)
        if shift is not None:
            z = z + layer.omega_0 * _per_point(shift)
        if dz.dim() == z.dim():  # shared streams, per-sample pre-activation: a batch dimension after K
            dz = dz.unsqueeze(1)
        if scale is not None:
            dz = dz * _per_point(scale)
            lap_z = lap_z * _per_point(scale) if lap_z is not None else None
        s, c = torch.sin(z), torch.cos(z)
        if laplacian:  # lap(sin z) = cos(z) lap(z) - sin(z) |grad z|^2
            lap = -s * (dz * dz).sum(0)
            lap = lap + c * lap_z if lap_z is not None else lap
        h, tangents = s, c * dz
    w_last = params.get("last.weight", siren.last.weight)
    value = _linear(h, w_last, params.get("last.bias", siren.last.bias))  # (*, N, C)
    gradient = _streams_linear(tangents, w_last).movedim(0, -1)  # (*, N, C, D)
    gradient = gradient.expand(*value.shape, gradient.shape[-1]) if gradient.dim() - 1 < value.dim() else gradient
    if laplacian:
        lap = _streams_linear(lap[None], w_last)[0]
        lap = lap.expand_as(value) if lap.dim() < value.dim() else lap
    return Derivatives(value, gradient, lap if laplacian else None)
