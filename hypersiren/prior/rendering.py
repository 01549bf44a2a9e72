"""Rendering generated SIRENs: where a rendering's pixels lie, and the one call that evaluates them (SIREN Sec. 4.4).

:class:`Rendering` is :class:`~hypersiren.prior.model.HyperSiren`'s half that turns a
:class:`~hypersiren.prior.latent.Generated` into pixels: on the pixel centres of any ``height x width`` image
(:meth:`~Rendering.decode`), or at any points of the image (:meth:`~Rendering.decode_points`), registered with the
real image at that size (:mod:`hypersiren.siren.coords`); priors trained on 0.1's corner-to-corner grid have their
coordinates mapped onto it; a prior with ``cell_input`` also gets each rendering's scale.
"""

from __future__ import annotations

import math

import torch

from hypersiren.prior.latent import Generated
from hypersiren.siren.coords import grid, take_pixels


class Rendering:
    """The rendering methods of a model with ``config``, ``siren`` and ``hypernet`` (:class:`HyperSiren`)."""

    def decode(
        self,
        generated: Generated,
        height: int,
        width: int,
        pixels: torch.Tensor | None = None,
        chunk: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """Render generated SIRENs at the pixel centres of a ``height x width`` image -> ``(B, C, height, width)``.

        The rendering registers with the real image at that size (:mod:`hypersiren.siren.coords`): pixel ``j`` of a
        rendering at twice the model's side lies at the model's pixel index ``(j + 0.5) / 2 - 0.5``. Not clamped.

        Args:
            pixels: optional ``(S,)`` indices into the flattened grid (row-major); the SIRENs are then
                evaluated only there and the result is ``(B, C, S)``.
            chunk: render this many samples at a time (same result). On a CPU a small chunk keeps the
                activations, ``(chunk, H W, hidden_features)``, in cache, which costs less CPU time than
                rendering a large batch at once.
            dtype: render under autocast to this dtype (``torch.bfloat16``: how the priors trained under bf16
                autocast rendered in training) and return float32. None: the parameters' dtype. Whether it is
                faster depends on the SIREN's width: measured on a 2-core CPU, 6% faster for the 256-wide
                ``celeba32``, 35% slower for the 128-wide ``celeba64`` (the casts outweigh the smaller matmuls).
        """
        coords = self.pixel_coords(height, width)  # (H W, 2) the SIREN's inputs, shared by the batch
        if pixels is not None:
            coords = take_pixels(coords.T.unflatten(1, (height, width)), pixels).T  # (2, H, W) -> (S, 2)
        n, stride = self.config.image_size, self.config.grid_stride
        on_codes = stride == 1 and (height, width) == (n, n)  # a stride-1 grid at its own side: gather the codes
        scale = 0.5 * (math.log2(height / n) + math.log2(width / n))
        values = self._render(generated, coords, on_codes, chunk, dtype, scale)  # (B, C, H W) or (B, C, S)
        return values if pixels is not None else values.unflatten(2, (height, width))

    def decode_points(
        self,
        generated: Generated,
        points: torch.Tensor,
        chunk: int | None = None,
        dtype: torch.dtype | None = None,
        scale: float | torch.Tensor = 0.0,
    ) -> torch.Tensor:
        """Render generated SIRENs at any points of the image -> ``(B, C, N)``, not clamped.

        Args:
            points: ``(N, 2)`` (y, x) in the image's [-1, 1], edge to edge (pixel centres at ``-1 + (2 i + 1) / n``,
                as :func:`torch.nn.functional.grid_sample` with ``align_corners=False`` reads them).
            chunk, dtype: see :meth:`decode`.
            scale: the rendered pixels' scale, ``log2`` (model pixel / rendered pixel): 1 for a rendering at twice
                the model's side; one value, ``(N,)`` or ``(B, N)`` per image (read by a prior with ``cell_input``
                only).
        """
        if points.dim() != 2 or points.shape[-1] != 2:
            raise ValueError(f"points must be (N, 2) (y, x) coordinates, got {tuple(points.shape)}")
        return self._render(generated, self.siren_coords(points), False, chunk, dtype, scale)

    def siren_coords(self, points: torch.Tensor) -> torch.Tensor:
        """Points of the image (``(..., 2)``, pixel-centre convention) -> the SIREN's inputs.

        A prior trained on 0.1's corner-to-corner grid (``coordinates="corners"``) had its training pixel ``i`` at
        ``-1 + 2 i / (n - 1)``: the same place is ``n / (n - 1)`` times its pixel-centre coordinate.
        """
        n = self.config.image_size
        return points * (n / (n - 1)) if self.config.coordinates == "corners" and n > 1 else points

    def pixel_coords(self, height: int, width: int) -> torch.Tensor:
        """The SIREN's inputs at the pixel centres of a ``height x width`` rendering: ``(H W, 2)``, row-major.

        :meth:`siren_coords` of the centres, computed so that a ``corners`` prior rendered at its own side gets 0.1's
        ``linspace(-1, 1, n)`` exactly (its outputs there are bit-identical to 0.1's).
        """
        n, device = self.config.image_size, self.siren.last.weight.device
        if self.config.coordinates == "corners" and n > 1:
            extent = tuple((s - 1) * n / (s * (n - 1)) for s in (height, width))  # 1.0 exactly at s == n
            return grid(height, width, extent=extent, device=device)
        return grid(height, width, align_corners=False, device=device)

    def _render(
        self,
        generated: Generated,
        coords: torch.Tensor,
        on_codes: bool,
        chunk: int | None,
        dtype: torch.dtype | None,
        scale: float | torch.Tensor = 0.0,
    ) -> torch.Tensor:
        """The SIRENs at their input coordinates ``(N, 2)`` -> ``(B, C, N)``; ``scale`` as in :meth:`decode_points`."""
        if dtype is not None:
            with torch.autocast(coords.device.type, dtype=dtype):
                return self._render(generated, coords, on_codes, chunk, None, scale).float()
        if chunk is not None and chunk < (batch := generated.batch_size):
            per_image = isinstance(scale, torch.Tensor) and scale.dim() == 2  # (B, N): each image's own
            parts = [
                self._render(
                    generated.take(s, s + chunk),
                    coords,
                    on_codes,
                    None,
                    None,
                    scale[s : s + chunk] if per_image else scale,
                )
                for s in range(0, batch, chunk)
            ]
            return torch.cat(parts)
        scales = None
        if self.config.cell_input:  # trained up to cell_max_scale: a larger rendering renders as the largest
            if isinstance(scale, torch.Tensor):
                scales = scale.to(coords.device, torch.float32)
                scales = scales if scales.dim() == 2 else scales.reshape(-1)  # (B, N) per image, else (N,) or (1,)
            else:  # made on the device: a tensor of a Python number would be a host-to-device copy, a wait
                scales = torch.full((1,), float(scale), device=coords.device)
            scales = scales.clamp(0.0, self.config.cell_max_scale)
        return self.hypernet.render(generated, self.siren, coords, on_codes, scales).transpose(1, 2)  # (B, C, N)


def paste_observed(rendered: torch.Tensor, images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """The completion a user sees: the observed pixels of ``images``, the clamped rendering elsewhere.

    Args:
        rendered: ``(B, C, H, W)`` raw model output.
        images, observed: as given to the model, same ``H x W``.
    """
    return torch.where(observed, images, rendered.clamp(-1.0, 1.0))
