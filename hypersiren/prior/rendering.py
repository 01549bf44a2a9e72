"""Rendering generated SIRENs: where a rendering's pixels lie, and the one call that evaluates them (SIREN Sec. 4.4).

The free functions behind :meth:`HyperSiren.decode <hypersiren.prior.model.HyperSiren.decode>` and
:meth:`~hypersiren.prior.model.HyperSiren.decode_points`, taking the model's parts explicitly: a rendering's pixel
centres registered with the real image at any size (:func:`pixel_coords`; :mod:`hypersiren.siren.coords`), priors
trained on 0.1's corner-to-corner grid mapped onto it (:func:`siren_coords`), and :func:`render`, the SIRENs at those
coordinates with each rendering's scale for a prior with ``cell_input`` (inference through
:mod:`hypersiren.prior.fused_render`, training through the per-point path of the hypernetwork).
"""

from __future__ import annotations

import torch
from torch import nn

from hypersiren.prior.config import HyperSirenConfig
from hypersiren.prior.latent import Generated
from hypersiren.siren.coords import grid
from hypersiren.siren.network import Siren


def siren_coords(config: HyperSirenConfig, points: torch.Tensor) -> torch.Tensor:
    """Points of the image (``(..., 2)``, pixel-centre convention) -> the SIREN's inputs.

    A prior trained on 0.1's corner-to-corner grid (``coordinates="corners"``) had its training pixel ``i`` at
    ``-1 + 2 i / (n - 1)``: the same place is ``n / (n - 1)`` times its pixel-centre coordinate.
    """
    n = config.image_size
    return points * (n / (n - 1)) if config.coordinates == "corners" and n > 1 else points


def pixel_coords(config: HyperSirenConfig, height: int, width: int, device: torch.device) -> torch.Tensor:
    """The SIREN's inputs at the pixel centres of a ``height x width`` rendering: ``(H W, 2)``, row-major.

    :func:`siren_coords` of the centres, computed so that a ``corners`` prior rendered at its own side gets 0.1's
    ``linspace(-1, 1, n)`` exactly (its outputs there are bit-identical to 0.1's).
    """
    n = config.image_size
    if config.coordinates == "corners" and n > 1:
        extent = tuple((s - 1) * n / (s * (n - 1)) for s in (height, width))  # 1.0 exactly at s == n
        return grid(height, width, extent=extent, device=device)
    return grid(height, width, align_corners=False, device=device)


def render(
    config: HyperSirenConfig,
    hypernet: nn.Module,
    siren: Siren,
    generated: Generated,
    coords: torch.Tensor,
    *,
    on_codes: bool = False,
    chunk: int | None = None,
    dtype: torch.dtype | None = None,
    scale: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """The SIRENs at their input coordinates ``(N, 2)`` -> ``(B, C, N)``.

    Args:
        on_codes: every coordinate lies on a code of a stride-1 grid (gathered, not blended).
        chunk: render this many samples at a time (the same result).
        dtype: render under autocast to this dtype and return float32.
        scale: the rendered pixels' scale, ``log2`` (model pixel / rendered pixel): one value, ``(N,)`` or
            ``(B, N)`` per image (read by a prior with ``cell_input`` only; clamped to ``[0, cell_max_scale]``).
    """
    if dtype is not None:
        with torch.autocast(coords.device.type, dtype=dtype):
            return render(
                config, hypernet, siren, generated, coords, on_codes=on_codes, chunk=chunk, scale=scale
            ).float()
    if chunk is not None and chunk < (batch := generated.batch_size):
        per_image = isinstance(scale, torch.Tensor) and scale.dim() == 2  # (B, N): each image's own
        parts = [
            render(
                config,
                hypernet,
                siren,
                generated.take(s, s + chunk),
                coords,
                on_codes=on_codes,
                scale=scale[s : s + chunk] if per_image else scale,
            )
            for s in range(0, batch, chunk)
        ]
        return torch.cat(parts)
    scales = None
    if config.cell_input:  # trained up to cell_max_scale: a larger rendering renders as the largest
        if isinstance(scale, torch.Tensor):
            scales = scale.to(coords.device, torch.float32)
            scales = scales if scales.dim() == 2 else scales.reshape(-1)  # (B, N) per image, else (N,) or (1,)
        else:  # made on the device: a tensor of a Python number would be a host-to-device copy, a wait
            scales = torch.full((1,), float(scale), device=coords.device)
        scales = scales.clamp(0.0, config.cell_max_scale)
    return hypernet.render(generated, siren, coords, on_codes, scales).transpose(1, 2)  # (B, C, N)


def paste_observed(rendered: torch.Tensor, images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """The completion a user sees: the observed pixels of ``images``, the clamped rendering elsewhere.

    Args:
        rendered: ``(B, C, H, W)`` raw model output.
        images, observed: as given to the model, same ``H x W``.
    """
    return torch.where(observed, images, rendered.clamp(-1.0, 1.0))
