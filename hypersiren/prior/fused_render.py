"""A grid prior's SIRENs rendered at the pace of their matmuls (inference; ours, the same function as
:meth:`~hypersiren.prior.hypernet.GridHypernet.render`).

The grid hypernetwork shifts every sine layer by a linear map of the code interpolated at each point. The map is
affine and the bilinear weights sum to one, so mapping each *code* and interpolating the shifts equals mapping the
interpolated code: the shifts are computed once per code (1,024 at 32x32) instead of once per rendered point (65,536
at 256x256), a quarter of the multiply-adds. Everything else that is constant per image folds into the same per-code
map or into the weights: the sine layer's bias, the global code's FiLM shift, the cell's shift at the rendering's
scale and ``omega_0`` join the map; the global FiLM scale multiplies the weight's columns (one weight matrix per
image, as ``bmm`` takes them) while those fit in cache (:data:`FOLD_BYTES`); for a large batch (an evaluation's 256
faces: 64 MB a layer, read again for every chunk) the weight stays shared and the scale multiplies its product.
What remains per point and layer is one interpolation of the layer's shifts (a four-tap ``embedding_bag``, or a
gather on the codes), one matmul accumulated into it in place, and one sine in place, over chunks of points small
enough to stay in cache.

Only without autograd (``render``, ``inpaint``, ``sample``, validation): training and refinement keep the per-point
path, whose gradients they need. Priors whose codes also scale the pre-activations (``grid_scale``) keep it too.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from hypersiren.prior.latent import Generated, grid_corners
from hypersiren.siren.network import Siren

CHUNK_VALUES = 1 << 19  # points per chunk x images x width: 2 MB of float32 per activation, in L2 / L3
FOLD_BYTES = 1 << 22  # per-image weights (the FiLM scale folded in) up to 4 MB a layer; beyond, one shared weight


def render_per_code(
    hypernet,
    generated: Generated,
    siren: Siren,
    coords: torch.Tensor,
    on_codes: bool | None = None,
    scale: float | torch.Tensor | None = None,
    chunk: int | None = None,
) -> torch.Tensor:
    """The generated SIRENs at ``coords`` ``(N, 2)`` -> ``(B, N, out_features)``, shifts per code (module docstring).

    Args:
        hypernet: a :class:`~hypersiren.prior.hypernet.GridHypernet` without ``scale``.
        on_codes: see :func:`~hypersiren.prior.latent.interpolate_grid`.
        scale: the rendering's scale for the cell shift, one value (``(1,)`` or a number), or None (0).
        chunk: points per chunk (None: :data:`CHUNK_VALUES` over the batch and the width).
    """
    grid = generated.grid  # (B, D, g_h, g_w)
    b, num_layers, width = grid.shape[0], hypernet.num_layers, hypernet.width
    dtype = siren.last.weight.dtype
    index, weight = grid_corners(coords, grid.shape[-2:], hypernet.align_corners, on_codes)  # (N, k), (N, k)
    codes = grid.flatten(2).transpose(1, 2).to(dtype)  # (B, G, D)
    local = F.linear(codes, hypernet.local.weight, hypernet.local.bias).chunk(num_layers, dim=-1)  # per layer (B, G, F)
    films = [m.chunk(2, dim=-1) for m in generated.modulations] or [None] * num_layers  # per layer (B, F) x 2
    cells = [None] * num_layers
    if hypernet.cell is not None and scale is not None:
        value = scale.reshape(1, 1).to(dtype) if isinstance(scale, torch.Tensor) else torch.full((1, 1), scale)
        cells = hypernet.cell(value.to(grid.device, dtype)).chunk(num_layers, dim=-1)  # per layer (1, F)
    maps, weights = [], []
    for i, layer in enumerate(siren.net):
        omega, w, bias = layer.omega_0, layer.linear.weight, layer.linear.bias  # (F, F_in), (F,)
        shift = local[i]  # (B, G, F)
        gain = None
        if films[i] is not None:
            film_scale, film_shift = films[i]
            gain = 1.0 + film_scale  # (B, F)
            shift = shift + (bias * gain + film_shift)[:, None]
        else:
            shift = shift + bias
        if cells[i] is not None:
            shift = shift + cells[i]
        maps.append((omega * shift).reshape(b * shift.shape[1], width))  # (B G, F): the layer's bias per code
        wt = omega * w.t()  # (F_in, F)
        weights.append((wt, gain))
    fold = b * max(wt.numel() for wt, _ in weights) * weights[0][0].element_size() <= FOLD_BYTES
    if fold:  # (B, F_in, F): the FiLM scale in each image's weight
        weights = [
            ((wt[None] * g[:, None]) if g is not None else wt[None].expand(b, -1, -1), None) for wt, g in weights
        ]
    step = chunk or max(64, CHUNK_VALUES // (b * width))
    out = []
    codes_per_image = grid.shape[-2] * grid.shape[-1]
    offsets = (torch.arange(b, device=grid.device) * codes_per_image)[:, None, None]  # (B, 1, 1)
    for start in range(0, len(coords), step):
        idx = (index[start : start + step][None] + offsets).flatten(0, 1)  # (B n, k) into the (B G, F) maps
        taps = weight[start : start + step].to(dtype).repeat(b, 1)  # (B n, k)
        n = idx.shape[0] // b
        h = coords[start : start + step].to(dtype)[None].expand(b, n, -1)  # (B, n, 2)
        for layer_map, layer_weight in zip(maps, weights, strict=True):
            if idx.shape[1] == 1:
                z = layer_map.index_select(0, idx[:, 0])  # (B n, F): on the codes, the codes' own
            else:
                z = F.embedding_bag(idx, layer_map, per_sample_weights=taps, mode="sum")  # (B n, F)
            wt, gain = layer_weight
            if fold:  # the bias map plus the matmul, in place
                z = z.view(b, n, width).baddbmm_(h, wt)
            elif gain is None:
                z = z.addmm_(h.reshape(b * n, -1), wt).view(b, n, width)
            else:
                z = z.view(b, n, width).addcmul_(torch.matmul(h, wt), gain[:, None])
            h = z.sin_()
        out.append(torch.matmul(h, siren.last.weight.t()).add_(siren.last.bias))  # (B, n, C)
    return torch.cat(out, 1)
