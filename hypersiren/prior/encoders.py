"""Encoders: a partly observed image -> a latent code (SIREN Sec. 4.4, supplement Sec. 9).

- ``paper_cnn``: the official ``ConvImgEncoder`` (conv3x3 3->128, conv3x3 128->256, 4 residual blocks of
  two 5x5 convs, conv1x1, then ``Linear(H*W -> 1)`` over the flattened map): the observed image with zeros
  elsewhere and no mask channel, so a black pixel looks missing; its last layer fixes the resolution.
- ``set``: the official ``SetEncoder``: a ReLU MLP over (y, x, colour) of each context pixel, masked mean.
- ``conv`` (our default): the observed image plus the ``observed`` mask as an extra channel, a small
  residual CNN with stride-2 stages and global average pooling, so any resolution works.
- ``timm:<name>``: any timm backbone, trained from scratch with ``in_chans`` = image channels + 1.
- ``grid``: a U-Net that returns a grid of local codes besides the global one
  (:mod:`hypersiren.prior.grid_encoder`).

Every encoder but ``grid`` returns the global code ``(B, latent_dim)``; ``grid`` returns a
:class:`~hypersiren.prior.latent.Latent`.
"""

from __future__ import annotations

import torch
from torch import nn

from hypersiren.prior.blocks import ResBlock
from hypersiren.prior.grid_encoder import GridEncoder
from hypersiren.siren.coords import grid, image_to_points


class _PaperResBlock(nn.Module):
    """Official ``Conv2dResBlock``: relu(x + relu(conv(relu(conv(x)))))."""

    def __init__(self, channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.convs = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, padding=pad),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size, padding=pad),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.convs(x))


class PaperCNNEncoder(nn.Module):
    """The official CNN encoder (13.5 M parameters at 32x32, latent 256 = its channel count).

    Args:
        channels: image channels.
        image_size: the fixed side its final ``Linear(H*W -> 1)`` needs.
        latent_dim: latent size (the official code ties it to the 256 channels; other values add a
            final linear map).
    """

    def __init__(self, channels: int = 3, image_size: int = 32, latent_dim: int = 256) -> None:
        super().__init__()
        self.image_size = image_size
        self.cnn = nn.Sequential(
            nn.Conv2d(channels, 128, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(128, 256, 3, padding=1),
            nn.ReLU(),
            *[_PaperResBlock(256) for _ in range(4)],
            nn.Conv2d(256, 256, 1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(image_size * image_size, 1)
        self.proj = nn.Identity() if latent_dim == 256 else nn.Linear(256, latent_dim)

    def forward(self, images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)``, ``(B, 1, H, W)`` -> ``(B, latent_dim)``."""
        h, w = images.shape[-2:]
        if (h, w) != (self.image_size, self.image_size):
            raise ValueError(
                f"the paper_cnn encoder is fixed to {self.image_size}x{self.image_size} images, got {h}x{w}; "
                "use encoder='conv' for other resolutions"
            )
        # channels_last: oneDNN's (and cuDNN's) fast bf16 convolutions work on NHWC; same values either way
        features = self.cnn((images * observed).contiguous(memory_format=torch.channels_last))  # (B, 256, H, W)
        return self.proj(self.fc(features.flatten(2)).squeeze(-1))  # (B, 256) -> (B, latent_dim)


class SetEncoder(nn.Module):
    """The official set encoder: ReLU MLP over (y, x, colour) per context pixel, masked mean.

    Args:
        channels: image channels.
        latent_dim: output size.
        hidden_features: MLP width (256 officially).
        hidden_layers: hidden-to-hidden layers (2 officially).
    """

    def __init__(self, channels: int = 3, latent_dim: int = 256, hidden_features: int = 256, hidden_layers: int = 2):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(2 + channels, hidden_features), nn.ReLU()]
        for _ in range(hidden_layers):
            layers += [nn.Linear(hidden_features, hidden_features), nn.ReLU()]
        layers += [nn.Linear(hidden_features, latent_dim), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)``, ``(B, 1, H, W)`` -> ``(B, latent_dim)``."""
        b, _, h, w = images.shape
        coords = grid(h, w, device=images.device, dtype=images.dtype).expand(b, -1, -1)  # (B, N, 2)
        points = torch.cat([coords, image_to_points(images)], dim=-1)  # (B, N, 2 + C)
        weights = image_to_points(observed.to(images.dtype))  # (B, N, 1)
        embeddings = self.net(points) * weights  # (B, N, latent_dim)
        return embeddings.sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class ConvEncoder(nn.Module):
    """Residual CNN over (observed image, mask), stride-2 stages, global average pooling.

    Args:
        channels: image channels (one mask channel is added).
        latent_dim: output size.
        width: channels of the first stage; doubled at each of the ``stages`` downsamplings (capped at 4x).
        stages: number of stride-2 stages.
    """

    def __init__(self, channels: int = 3, latent_dim: int = 256, width: int = 64, stages: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(channels + 1, width, 3, padding=1)
        blocks: list[nn.Module] = [ResBlock(width, width)]
        c = width
        for i in range(stages):
            out = width * min(2 ** (i + 1), 4)
            blocks += [ResBlock(c, out, stride=2), ResBlock(out, out)]
            c = out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.GroupNorm(min(8, c), c), nn.SiLU(), nn.Flatten(), nn.Linear(c, latent_dim))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)``, ``(B, 1, H, W)`` -> ``(B, latent_dim)``."""
        mask = observed.to(images.dtype)
        x = self.stem(torch.cat([images * mask, mask], dim=1))  # (B, width, H, W)
        return self.head(self.pool(self.blocks(x)))


class TimmEncoder(nn.Module):
    """Any timm backbone over (observed image, mask), from scratch, its classifier sized to the latent."""

    def __init__(self, name: str, channels: int = 3, latent_dim: int = 256) -> None:
        super().__init__()
        import timm

        try:
            self.net = timm.create_model(name, pretrained=False, in_chans=channels + 1, num_classes=latent_dim)
        except RuntimeError as err:  # timm raises RuntimeError for an unknown model name
            raise ValueError(f"unknown timm encoder {name!r}: {err}") from None

    def forward(self, images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)``, ``(B, 1, H, W)`` -> ``(B, latent_dim)``."""
        mask = observed.to(images.dtype)
        return self.net(torch.cat([images * mask, mask], dim=1))


ENCODERS = ("conv", "paper_cnn", "set", "timm:<name>", "grid")


def build_encoder(name: str, channels: int, latent_dim: int, image_size: int, width: int, **grid) -> nn.Module:
    """The encoder called ``name`` (one of :data:`ENCODERS`); ``grid`` holds the grid encoder's options."""
    if name == "grid":
        return GridEncoder(channels, latent_dim, width=width, **grid)
    if name == "conv":
        return ConvEncoder(channels, latent_dim, width)
    if name == "paper_cnn":
        return PaperCNNEncoder(channels, image_size, latent_dim)
    if name == "set":
        return SetEncoder(channels, latent_dim)
    if name.startswith("timm:"):
        return TimmEncoder(name.removeprefix("timm:"), channels, latent_dim)
    raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")
