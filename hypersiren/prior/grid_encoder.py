"""The grid encoder: a partly observed image -> a grid of local codes and a global code (ours).

Extends SIREN Sec. 4.4 (one latent per image) after Spatial Functa (Bauer et al. 2023) and LIIF (Chen et al.
2021): a U-Net over the observed image and its ``observed`` mask. The contracting path (stride-2 residual
stages) reaches the whole face and ends in the global code; the expanding path, with skip connections,
returns one code per ``grid_stride`` x ``grid_stride`` pixels. With ``grid_input`` the observed values and
the mask themselves (average-pooled to the grid) join the last layer, so a code knows the pixel it sits on.
With ``fill_scales`` the encoder also reads mask-aware Gaussian fills of the observed values (normalized
convolution, Knutsson & Westin 1993: ``blur(x * m) / blur(m)`` and the density ``blur(m)``, at sigma 1, 2, 4, ...
pixels): a local interpolation of the context at every pixel, at the input and again at the last layer.
With ``mid_blocks`` and ``attention`` the deepest level (1 / 2**stages of the side) gets more residual blocks and a
self-attention block (as in diffusion U-Nets): cheap at 4x4 or 8x8 cells, and it is where a large hole is
imagined from the face around it. Convolutions and attention only: any resolution works; the grid keeps
``grid_stride`` pixels per code.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from hypersiren.prior.blocks import ResBlock
from hypersiren.prior.latent import Latent


class GridEncoder(nn.Module):
    """U-Net over (observed image, mask) -> :class:`Latent` (global code and code grid).

    Args:
        channels: image channels (a mask channel is added).
        latent_dim: global code size.
        grid_dim: local code size D.
        width: channels at full resolution; doubled per stage, capped at ``width_mult`` x.
        grid_stride: pixels per code along each axis (a power of two, at most ``2**stages``).
        stages: stride-2 stages of the contracting path.
        grid_input: feed the (pooled) observed values and mask to the last layer.
        global_code: compute the global code (else it is empty, ``(B, 0)``).
        fill_scales: how many mask-aware Gaussian fills (sigma 1, 2, 4, ... pixels) join the input (0: none).
        width_mult: the cap on the channel multiple of the deeper stages.
        mid_blocks: extra residual blocks at the deepest level.
        attention: a self-attention block at the deepest level (after the extra blocks).
        noise_dim: channels of a noise map added, through a zero-initialised 1x1 convolution, to the deepest level
            (the sampler's latent, :mod:`hypersiren.prior.sampler`); 0: none.
    """

    def __init__(
        self,
        channels: int = 3,
        latent_dim: int = 256,
        grid_dim: int = 64,
        width: int = 32,
        grid_stride: int = 1,
        stages: int = 3,
        grid_input: bool = True,
        global_code: bool = True,
        fill_scales: int = 0,
        width_mult: int = 4,
        mid_blocks: int = 0,
        attention: bool = False,
        noise_dim: int = 0,
    ) -> None:
        super().__init__()
        if fill_scales < 0 or mid_blocks < 0:
            raise ValueError(f"fill_scales and mid_blocks must be >= 0, got {fill_scales} and {mid_blocks}")
        if stages < 1 or width_mult < 1:
            raise ValueError(f"stages and width_mult must be >= 1, got {stages} and {width_mult}")
        levels = grid_stride.bit_length() - 1
        if grid_stride < 1 or 2**levels != grid_stride or levels > stages:
            raise ValueError(f"grid_stride must be a power of two up to {2**stages}, got {grid_stride}")
        self.grid_stride, self.grid_input, self.fill_scales = grid_stride, grid_input, fill_scales
        widths = [width * min(2**i, width_mult) for i in range(stages + 1)]  # channels per level, full resolution first
        inputs = (channels + 1) * (1 + fill_scales)  # image and mask, then each fill and its density
        self.stem = nn.Conv2d(inputs, width, 3, padding=1)
        self.down = nn.ModuleList([ResBlock(width, width)])
        for i in range(1, stages + 1):
            stage = [ResBlock(widths[i - 1], widths[i], stride=2), ResBlock(widths[i], widths[i])]
            self.down.append(nn.Sequential(*stage))
        mid = [ResBlock(widths[-1], widths[-1]) for _ in range(mid_blocks)] + (
            [SelfAttention(widths[-1])] if attention else []
        )
        self.mid = nn.Sequential(*mid) if mid else None  # absent by default: older checkpoints load strictly
        self.deep_channels = widths[-1]
        self.inject = nn.Conv2d(noise_dim, widths[-1], 1) if noise_dim else None
        if self.inject is not None:  # starts as the encoder without noise
            nn.init.zeros_(self.inject.weight)
            nn.init.zeros_(self.inject.bias)
        self.up = nn.ModuleList(ResBlock(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(levels, stages)))
        self.head = None
        if global_code:
            self.head = nn.Sequential(
                nn.GroupNorm(min(8, widths[-1]), widths[-1]),
                nn.SiLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(widths[-1], latent_dim),
            )
        out = widths[levels]
        self.norm = nn.GroupNorm(min(8, out), out)
        self.out = nn.Conv2d(out + (inputs if grid_input else 0), grid_dim, 1)

    def forward(self, images: torch.Tensor, observed: torch.Tensor, noise: torch.Tensor | None = None) -> Latent:
        """``(B, C, H, W)``, ``(B, 1, H, W)`` -> codes ``(B, latent_dim)`` and grid ``(B, D, H/s, W/s)``.

        Args:
            noise: ``(B, noise_dim, g, g)`` at the deepest level (``g = H / 2**stages``), with ``noise_dim``.
        """
        return self.expand(self.contract(images, observed), noise)

    def contract(self, images: torch.Tensor, observed: torch.Tensor) -> Contracted:
        """The contracting path: ``(B, C, H, W)``, ``(B, 1, H, W)`` -> the deepest level and the skips."""
        mask = observed.to(images.dtype)
        x = torch.cat([images * mask, mask], dim=1)  # (B, C + 1, H, W): a missing pixel reads 0 with mask 0
        if self.fill_scales:  # each fill reads the same masked stack
            x = torch.cat([x, *(masked_gaussian_fill(x, 2.0**k) for k in range(self.fill_scales))], dim=1)
        h = self.stem(x)
        skips = []
        for stage in self.down:
            h = stage(h)
            skips.append(h)  # level i: (B, widths[i], H / 2^i, W / 2^i)
        if self.mid is not None:
            h = self.mid(h)
        return Contracted(h, tuple(skips[:-1]), x)

    def expand(self, contracted: Contracted, noise: torch.Tensor | None = None) -> Latent:
        """The global code and the expanding path from :meth:`contract`'s result, with the noise map if any."""
        h, skips, x = contracted
        if noise is not None:
            if self.inject is None:
                raise ValueError("this encoder takes no noise (noise_dim=0)")
            h = h + self.inject(noise.to(h.dtype))  # (B, widths[-1], g, g)
        code = self.head(h) if self.head is not None else h.new_zeros(len(h), 0)  # (B, latent_dim) or (B, 0)
        for block, skip in zip(self.up, reversed(skips), strict=False):
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")  # any size, not only multiples of 2^stages
            h = block(torch.cat([h, skip], dim=1))
        h = F.silu(self.norm(h))  # (B, widths[levels], H / s, W / s)
        if self.grid_input:
            h = torch.cat([h, F.adaptive_avg_pool2d(x, h.shape[-2:]).to(h.dtype)], dim=1)
        return Latent(code, self.out(h))  # grid: (B, D, H / s, W / s)


class Contracted(NamedTuple):
    """The grid encoder's contracting path, for :meth:`GridEncoder.expand` (once per image, however many samples).

    Attributes:
        deep: ``(B, widths[-1], g, g)`` the deepest level.
        skips: the shallower levels, full resolution first.
        inputs: ``(B, (C + 1) (1 + fill_scales), H, W)`` the masked image, mask and fills the last layer reads.
    """

    deep: torch.Tensor
    skips: tuple[torch.Tensor, ...]
    inputs: torch.Tensor

    def repeat(self, k: int) -> Contracted:
        """Each image's tensors ``k`` times in a row: ``(B, ...)`` -> ``(B k, ...)``."""
        return Contracted(
            self.deep.repeat_interleave(k, 0),
            tuple(t.repeat_interleave(k, 0) for t in self.skips),
            self.inputs.repeat_interleave(k, 0),
        )


class SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention over the cells of a feature map, residual: ``(B, C, H, W)`` -> same."""

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(min(8, channels), channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = self.norm(x).flatten(2).transpose(1, 2)  # (B, H W, C)
        t, _ = self.attn(t, t, t, need_weights=False)
        return x + t.transpose(1, 2).reshape(b, c, h, w)


def gaussian_kernel(
    sigma: float, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The normalised 1-D Gaussian of standard deviation ``sigma`` pixels, cut at 3 sigma: ``(2 r + 1,)``, made on
    ``device`` (the encoder's: no copy from the host in every forward)."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(dtype)


def masked_gaussian_fill(masked: torch.Tensor, sigma: float) -> torch.Tensor:
    """Normalized convolution of ``masked = cat([images * mask, mask])``, ``(B, C + 1, H, W)`` -> the same shape.

    The first ``C`` channels are ``blur(images * mask) / blur(mask)`` (the Gaussian-weighted mean of the observed
    pixels near each pixel; 0 where none is within reach), the last is the density ``blur(mask)`` in [0, 1]. The
    blur is separable and zero-padded, so the borders are weighted by what is inside the image.
    """
    k = gaussian_kernel(sigma, masked.device, masked.dtype)
    c, r = masked.shape[1], (len(k) - 1) // 2
    x = F.conv2d(masked, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, r), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(r, 0), groups=c)
    density = x[:, -1:]
    return torch.cat([x[:, :-1] / density.clamp(min=1e-4), density], dim=1)
