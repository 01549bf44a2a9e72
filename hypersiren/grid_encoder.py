"""The grid encoder: a partly observed image -> a grid of local codes and a global code (ours).

Extends SIREN Sec. 4.4 (one latent per image) after Spatial Functa (Bauer et al. 2023) and LIIF (Chen et al.
2021): a U-Net over the observed image and its ``observed`` mask. The contracting path (stride-2 residual
stages) reaches the whole face and ends in the global code; the expanding path, with skip connections,
returns one code per ``grid_stride`` x ``grid_stride`` pixels. With ``grid_input`` the observed values and
the mask themselves (average-pooled to the grid) join the last layer, so a code knows the pixel it sits on.
Convolutions only: any resolution works; the grid keeps ``grid_stride`` pixels per code.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from hypersiren.blocks import ResBlock
from hypersiren.latent import Latent


class GridEncoder(nn.Module):
    """U-Net over (observed image, mask) -> :class:`Latent` (global code and code grid).

    Args:
        channels: image channels (a mask channel is added).
        latent_dim: global code size.
        grid_dim: local code size D.
        width: channels at full resolution; doubled per stage, capped at 4x.
        grid_stride: pixels per code along each axis (a power of two, at most ``2**stages``).
        stages: stride-2 stages of the contracting path.
        grid_input: feed the (pooled) observed values and mask to the last layer.
        global_code: compute the global code (else it is empty, ``(B, 0)``).
    """

    def __init__(self, channels: int = 3, latent_dim: int = 256, grid_dim: int = 64, width: int = 32,
                 grid_stride: int = 1, stages: int = 3, grid_input: bool = True,
                 global_code: bool = True) -> None:  # fmt: skip
        super().__init__()
        levels = grid_stride.bit_length() - 1
        if grid_stride < 1 or 2**levels != grid_stride or levels > stages:
            raise ValueError(f"grid_stride must be a power of two up to {2**stages}, got {grid_stride}")
        self.grid_stride, self.grid_input = grid_stride, grid_input
        widths = [width * min(2**i, 4) for i in range(stages + 1)]  # channels per level, full resolution first
        self.stem = nn.Conv2d(channels + 1, width, 3, padding=1)
        self.down = nn.ModuleList([ResBlock(width, width)])
        for i in range(1, stages + 1):
            stage = [ResBlock(widths[i - 1], widths[i], stride=2), ResBlock(widths[i], widths[i])]
            self.down.append(nn.Sequential(*stage))
        self.up = nn.ModuleList(ResBlock(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(levels, stages)))
        self.head = None
        if global_code:
            self.head = nn.Sequential(nn.GroupNorm(min(8, widths[-1]), widths[-1]), nn.SiLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten(), nn.Linear(widths[-1], latent_dim))  # fmt: skip
        out = widths[levels]
        self.norm = nn.GroupNorm(min(8, out), out)
        self.out = nn.Conv2d(out + (channels + 1 if grid_input else 0), grid_dim, 1)

    def forward(self, images: torch.Tensor, observed: torch.Tensor) -> Latent:
        """``(B, C, H, W)``, ``(B, 1, H, W)`` -> codes ``(B, latent_dim)`` and grid ``(B, D, H/s, W/s)``."""
        mask = observed.to(images.dtype)
        x = torch.cat([images * mask, mask], dim=1)  # (B, C + 1, H, W): a missing pixel reads 0 with mask 0
        h = self.stem(x)
        skips = []
        for stage in self.down:
            h = stage(h)
            skips.append(h)  # level i: (B, widths[i], H / 2^i, W / 2^i)
        code = self.head(h) if self.head is not None else h.new_zeros(len(h), 0)  # (B, latent_dim) or (B, 0)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=False):
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")  # any size, not only multiples of 2^stages
            h = block(torch.cat([h, skip], dim=1))
        h = F.silu(self.norm(h))  # (B, widths[levels], H / s, W / s)
        if self.grid_input:
            h = torch.cat([h, F.adaptive_avg_pool2d(x, h.shape[-2:]).to(h.dtype)], dim=1)
        return Latent(code, self.out(h))  # grid: (B, D, H / s, W / s)
