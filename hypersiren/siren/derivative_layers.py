"""Fused sine layers that carry a SIREN's derivatives forward (see :mod:`hypersiren.siren.derivatives`).

Each layer maps ``K`` stacked streams ``(K, N, I)`` (value, ``D`` input derivatives, optionally the
Laplacian) to ``(K, N, O)`` with one matmul and a hand-written backward. Compared with the same formulas
in plain torch ops (whose autograd recomputes ``cos`` for ``sin``'s backward and ``sin`` for ``cos``'s,
and allocates a buffer per elementwise op), the backward reuses the forward's ``sin`` and ``cos``, works
in place where it can and runs each layer's ``K`` input-gradient and weight-gradient matmuls as one each.
Large buffers on a CPU are fresh pages every time (glibc maps allocations over 32 MB anew: faulting them
in costs about a pass over them), hence the ``out=`` and in-place ops. Like
:class:`hypersiren.siren.network._SineLayerFunction`, these are differentiable once. Under autocast the hidden
layers run in its dtype; the first layer computes in float32 (its pre-activation reaches ``omega_0``,
where bfloat16 keeps the phase only to ~0.1 rad) and hands its streams on in the autocast dtype.

Stream layout: ``[value, d/dx_1, ..., d/dx_D]`` then ``lap`` when ``laplacian`` is set. With
``z = omega (W x + b)``, ``u_d = omega W dx/dx_d`` and ``q = sum_d u_d^2``:
``value' = sin z``, ``d'_d = cos(z) u_d``, ``lap' = cos(z) omega W lap - sin(z) q``.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


class _FirstSineStreams(torch.autograd.Function):
    """First sine layer: coordinates ``(N, D)`` -> streams ``(K, N, F)``; ``dx/dx = I``, ``lap(x) = 0``."""

    @staticmethod
    def forward(ctx, x, weight, bias, omega: float, laplacian: bool):
        dev, d = x.device.type, x.shape[1]
        dtype = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else x.dtype
        with torch.autocast(dev, enabled=False):  # float32: |z| reaches omega_0, too far for bfloat16's phase
            w = weight * omega  # (F, D)
            z = torch.addmm(bias * omega, x, w.t())  # (N, F)
            out = z.new_empty(1 + d + laplacian, *z.shape, dtype=dtype)  # (K, N, F), the autocast dtype if on
            torch.sin(z, out=out[0])
            c = torch.cos(z, out=z)  # z is not needed any more
            wt = w.t().unsqueeze(1)  # (D, 1, F): u_d = omega W e_d, the same at every point
            torch.mul(c, wt, out=out[1 : 1 + d])
            if laplacian:
                torch.mul(out[0], (wt * wt).sum(0), out=out[-1]).neg_()  # -sin(z) q, q = sum_d u_d^2
        ctx.save_for_backward(x, w, c, out)
        ctx.omega, ctx.laplacian, ctx.param_dtype = omega, laplacian, weight.dtype
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, w, c, out = ctx.saved_tensors
        s, d = out[0].to(c.dtype), x.shape[1]
        g = grad_out.to(c.dtype)  # this layer's backward in float32 too
        wt = w.t()  # (D, F)
        acc = ctx.param_dtype
        grad_w = torch.empty_like(w, dtype=acc)  # (F, D): the terms in u_d = omega w_d directly
        grad_c = g[1] * wt[0]  # dL/dcos(z): sum_d g_d u_d
        for k in range(d):
            if k:
                grad_c.addcmul_(g[1 + k], wt[k])
            grad_w[:, k] = (g[1 + k] * c).sum(0, dtype=acc)
        grad_z = g[0].clone()
        if ctx.laplacian:  # lap' = -sin(z) q, q = sum_d u_d^2
            grad_q = -(g[-1] * s).sum(0, dtype=acc)  # (F,)
            grad_w.addcmul_(w.to(acc), grad_q[:, None], value=2.0)
            grad_z.addcmul_(g[-1], (wt * wt).sum(0), value=-1.0)  # dL/dsin(z) gets -q g_lap
        grad_z.mul_(c).addcmul_(s, grad_c, value=-1.0)  # (N, F)
        grad_w.add_(grad_z.t().mm(x.to(grad_z.dtype)).to(acc))
        grad_x = grad_z.mm(wt.t()).to(x.dtype) if ctx.needs_input_grad[0] else None
        grad_weight = grad_w.mul_(ctx.omega)
        grad_bias = grad_z.sum(0, dtype=acc).mul_(ctx.omega)
        return grad_x, grad_weight, grad_bias, None, None


class _HiddenSineStreams(torch.autograd.Function):
    """Hidden sine layer on stacked streams ``(K, N, I)`` -> ``(K, N, O)``; see the module docstring."""

    @staticmethod
    def forward(ctx, h, weight, bias, omega: float, d: int, laplacian: bool):
        w = weight * omega  # (O, I)
        k, n, _ = h.shape
        zs = torch.mm(h.reshape(k * n, -1), w.t())
        zs = zs.view(k, n, -1)  # (K, N, O): omega W h for every stream; the bias goes to the value only
        z = zs[0].add_(bias * omega)
        out = torch.empty_like(zs)
        s = torch.sin(z, out=out[0])
        c = torch.cos(z)
        torch.mul(zs[1 : 1 + d], c, out=out[1 : 1 + d])
        q = None
        if laplacian:
            q = zs[1] * zs[1]
            for j in range(2, 1 + d):
                q.addcmul_(zs[j], zs[j])
            torch.mul(zs[-1], c, out=out[-1]).addcmul_(s, q, value=-1.0)
        ctx.save_for_backward(h, w, zs, c, out, q)
        ctx.omega, ctx.d, ctx.laplacian, ctx.param_dtype = omega, d, laplacian, weight.dtype
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        h, w, zs, c, out, q = ctx.saved_tensors
        d, s = ctx.d, out[0]
        g = grad_out.to(c.dtype)
        grad_zs = torch.empty_like(zs)  # (K, N, O)
        torch.mul(g[1 : 1 + d], c, out=grad_zs[1 : 1 + d])
        grad_sin = torch.mul(zs[1], g[1], out=grad_zs[0])  # dL/dz through cos: -sin(z) sum_d u_d g_d
        for j in range(2, 1 + d):
            grad_sin.addcmul_(zs[j], g[j])
        if ctx.laplacian:  # lap' = cos(z) l - sin(z) q: dl = cos g_lap, du_d = -2 sin u_d g_lap
            grad_sin.addcmul_(zs[-1], g[-1])
            torch.mul(g[-1], c, out=grad_zs[-1])
            s_glap = s * g[-1]
            for j in range(1, 1 + d):
                grad_zs[j].addcmul_(zs[j], s_glap, value=-2.0)
            grad_cos = torch.addcmul(g[0], q, g[-1], value=-1.0)  # dL/dsin(z) is g_0; dL/dcos(z) adds -q g_lap
            grad_sin.mul_(s)
            grad_zs[0] = grad_cos.mul_(c).sub_(grad_sin)
        else:
            grad_sin.mul_(s).neg_().addcmul_(g[0], c)
        k, n, o = zs.shape
        flat = grad_zs.view(k * n, o)
        grad_h = flat.mm(w.to(flat.dtype)).view_as(h).to(h.dtype) if ctx.needs_input_grad[0] else None
        grad_w = flat.t().mm(h.reshape(k * n, -1).to(flat.dtype)).to(ctx.param_dtype).mul_(ctx.omega)
        grad_b = grad_zs[0].sum(0, dtype=ctx.param_dtype).mul_(ctx.omega)
        return grad_h, grad_w, grad_b, None, None, None


def first_sine_streams(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, omega: float, laplacian: bool
) -> torch.Tensor:
    """The first sine layer with its input derivatives.

    Args:
        x: ``(N, D)`` coordinates (no gradient to them).
        weight: ``(F, D)``, before the ``omega`` factor.
        bias: ``(F,)``.
        omega: the layer's ``omega_0``.
        laplacian: also return the Laplacian stream.

    Returns:
        ``(K, N, F)`` with ``K = 1 + D (+ 1)``: value, derivatives, Laplacian.
    """
    return _FirstSineStreams.apply(x, weight, bias, omega, laplacian)


def hidden_sine_streams(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, omega: float, d: int, laplacian: bool
) -> torch.Tensor:
    """A hidden sine layer on stacked streams.

    Args:
        h: ``(K, N, I)`` from the previous layer.
        weight: ``(O, I)``, before the ``omega`` factor.
        bias: ``(O,)``.
        omega: the layer's ``omega_0``.
        d: coordinate dimension (streams ``1 .. d`` are derivatives).
        laplacian: the last stream is the Laplacian.

    Returns:
        ``(K, N, O)``.
    """
    return _HiddenSineStreams.apply(h, weight, bias, omega, d, laplacian)
