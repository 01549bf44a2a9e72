"""The residual block of the mask-aware encoders (``conv``, ``grid``): ours, not the official code's.

Pre-activation (GroupNorm, SiLU, conv3x3, twice) as in diffusion U-Nets; its own module so that the encoders
that build on it (:mod:`hypersiren.prior.encoders`, :mod:`hypersiren.prior.grid_encoder`) import it without
importing each other.
"""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    """Pre-activation residual block: GroupNorm, SiLU, conv3x3, twice; optional stride-2 entry."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(min(8, in_channels), in_channels),
            nn.SiLU(),
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
            nn.GroupNorm(min(8, out_channels), out_channels),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        same = in_channels == out_channels and stride == 1
        self.skip = nn.Identity() if same else nn.Conv2d(in_channels, out_channels, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)
