"""A SIREN's value and input gradient as one autograd Function, for gradient supervision (paper Sec. 4.1).

Which order is cheapest depends on the loss. Count matmuls of the hidden size (``N x F x F``) per hidden
layer and step, forward plus backward of the loss:

- autograd through autograd (the official ``diff_operators.gradient``): forward 1, the gradient's
  backward 1, then the backward of both 4: **6**;
- forward mode (:mod:`hypersiren.siren.derivatives`): ``1 + D`` streams forward, twice that backward: **9** for
  images (``D = 2``), **12** for the Laplacian against about 18 by autograd;
- this Function: the same 6 as autograd (reverse mode twice, which is optimal for a scalar output), with
  the backward written out: the forward keeps ``sin``, ``cos`` and the reverse sweep's adjoints, and the
  backward is a sweep in layer order (the adjoint of the gradient, a forward-mode tangent along the
  loss's direction) then one in reverse order (the value's adjoint), in place where it can.

So gradients are supervised through this Function and Laplacians through forward mode. On a CPU the
matmuls are most of the step, so in float32 this is about as fast as autograd; under bfloat16 autocast
(matmuls and the large elementwise buffers in bfloat16, parameter gradients accumulated in float32) it
is several times faster. Exact: the same function and parameter gradients, evaluated in another order.
Single-output SIRENs with their own (shared, leaf) parameters only; differentiable once.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from hypersiren.siren.derivatives import Derivatives
from hypersiren.siren.network import Siren


class _SirenGradient(torch.autograd.Function):
    """``(x, *params) -> (y, dy/dx)`` for ``sin`` layers then a linear output; see the module docstring.

    Under autocast the hidden layers run in its dtype; the first layer (whose pre-activation reaches
    ``omega_0 = 30`` and would lose its phase in bfloat16) and the input gradient stay in float32.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, omegas: tuple[float, ...], *params: torch.Tensor):
        dev = x.device.type
        dt = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else x.dtype
        with torch.autocast(dev, enabled=False):
            n = len(omegas)
            ws = [params[2 * i] * omegas[i] for i in range(n)]  # omega folded in: (F, I)
            w_out = params[-2]  # (1, F)
            z = torch.addmm(params[1] * omegas[0], x, ws[0].t())  # (N, F), float32
            cs = [torch.cos(z)]
            hs = [x, z.sin_()]  # the input of every layer, then the last hidden features
            h = hs[-1].to(dt)
            for i in range(1, n):
                z = torch.addmm((params[2 * i + 1] * omegas[i]).to(dt), h, ws[i].to(dt).t())
                cs.append(torch.cos(z))
                h = z.sin_()
                hs.append(h)
            y = torch.addmm(params[-1].to(dt), h, w_out.to(dt).t())  # (N, 1)
            # reverse sweep: a_i = dy/dh_i (w_out at the top), ahat_i = dy/dz_i = cos(z_i) a_i
            ahats = [cs[-1] * w_out.to(dt)]
            adjoints = []
            for i in range(n - 1, 0, -1):
                a = ahats[0].mm(ws[i].to(dt))  # (N, F)
                adjoints.insert(0, a)
                ahats.insert(0, a * cs[i - 1])  # float32 for the first layer
            grad_x = ahats[0].mm(ws[0])  # (N, D)
        ctx.omegas, ctx.dtype, ctx.param_dtype = omegas, dt, params[0].dtype
        ctx.save_for_backward(w_out, *ws, *hs, *cs, *ahats, *adjoints)
        return y, grad_x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y: torch.Tensor, grad_gx: torch.Tensor):
        n, dt, acc = len(ctx.omegas), ctx.dtype, ctx.param_dtype
        saved = ctx.saved_tensors
        w_out, ws, hs = saved[0].to(dt), saved[1 : 1 + n], saved[1 + n : 2 + 2 * n]
        cs, ahats, adjoints = saved[2 + 2 * n : 2 + 3 * n], saved[2 + 3 * n : 2 + 4 * n], saved[2 + 4 * n :]
        wd = [ws[0]] + [w.to(dt) for w in ws[1:]]  # the first layer in float32, as in the forward
        adjoints = [*adjoints, w_out]  # the last layer's a is w_out at every point
        # sweep in layer order: t = adjoint of a_{i-1} (t = the loss's gradient wrt dy/dx at the input)
        t, grad_ws, grad_zs = grad_gx.to(ws[0].dtype), [], []
        for i in range(n):
            grad_ws.append(ahats[i].t().mm(t).to(acc))  # from a_{i-1} = ahat_i W_i: (F, I)
            t = t.mm(wd[i].t())  # adjoint of ahat_i, (N, F)
            grad_zs.append(torch.mul(t, adjoints[i]).mul_(hs[i + 1]).neg_())  # through cos: -sin(z) a t
            t = t.mul_(cs[i]).to(dt)  # adjoint of a_i
        grad_w_out = t.sum(0, keepdim=True, dtype=acc)  # a_{last} = w_out at every point
        grad_y = grad_y.to(dt)
        grad_w_out.add_(grad_y.t().mm(hs[-1].to(dt)).to(acc))
        grad_b_out = grad_y.sum(0, dtype=acc)
        grads: list[torch.Tensor | None] = [None] * (2 * n)
        grad_h = grad_y.mm(w_out)  # (N, F)
        for i in range(n - 1, -1, -1):  # the value's reverse sweep
            grad_z = grad_zs[i].addcmul_(cs[i], grad_h)
            h = hs[i].to(grad_z.dtype)
            grads[2 * i] = grad_ws[i].add_(grad_z.t().mm(h).to(acc)).mul_(ctx.omegas[i])
            grads[2 * i + 1] = grad_z.sum(0, dtype=acc).mul_(ctx.omegas[i])
            if i:
                grad_h = grad_z.to(dt).mm(wd[i])
        return None, None, *grads, grad_w_out, grad_b_out


def value_and_gradient(siren: Siren, coords: torch.Tensor) -> Derivatives:
    """Value and input gradient of a single-output SIREN on its own parameters (see the module docstring).

    Args:
        siren: a SIREN with ``out_features == 1`` and leaf parameters.
        coords: ``(N, D)``; no gradient flows to them.

    Returns:
        :class:`hypersiren.siren.derivatives.Derivatives` with value ``(N, 1)`` (in the autocast dtype when
        autocast is on), gradient ``(N, 1, D)`` (float32 then) and no Laplacian.
    """
    if siren.out_features != 1 or coords.dim() != 2:
        raise ValueError(f"needs one output and (N, D) coords, got {siren.out_features} and {tuple(coords.shape)}")
    params = [p for layer in siren.net for p in (layer.linear.weight, layer.linear.bias)]
    y, grad = _SirenGradient.apply(coords.detach(), tuple(siren.omegas), *params, siren.last.weight, siren.last.bias)
    return Derivatives(y, grad.unsqueeze(1), None)
