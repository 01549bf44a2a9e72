"""The generative part of a grid prior: completions drawn from a latent, each one a SIREN (ours).

The mean prior's completion is the conditional mean, the average of every face that fits the observed pixels
(Freirich, Michaeli and Meir 2021: the least-MSE estimator among those whose outputs look like real images is a
stochastic transformation of it). The sampler adds a latent ``z`` of ``sampler_dim`` channels at the grid
encoder's deepest level (a ``g x g`` map, ``g = side / 2**grid_stages``) to a copy of the mean prior's encoder
(:class:`~hypersiren.prior.grid_encoder.GridEncoder` with ``noise_dim``), which the mean prior's hypernetwork and
SIREN then render, so every sample is a SIREN at any resolution and ``inpaint`` / ``render`` stay the mean.

Training (a conditional VAE, as in Pluralistic Image Completion's reconstructive path, Zheng et al. 2019): the
posterior :class:`Posterior` sees the whole face and the mask and gives ``q(z | x, observed)``; the copy of the
encoder decodes a draw of it; the loss is the prior's reconstruction plus a KL term. The prior over ``z`` given
only the observed pixels is one of:

- ``flow``: conditional rectified flow (Liu et al. 2023; flow matching, Lipman et al. 2023) on the latent, as
  latent diffusion does for Spatial Functa (Bauer et al. 2023): a velocity field ``v(z_t, t | deep)`` over the
  ``g x g`` map, trained on draws of ``q`` (stopped gradients: it learns the posterior's latents without pulling
  them), ``q`` itself held near N(0, I) by a small KL; sampled by ``sampler_steps`` Euler steps from N(0, I).
- ``gaussian``: the plain conditional VAE: ``p(z | observed)`` a Gaussian from the deep features, ``KL(q || p)``
  trained jointly (known to collapse towards little diversity: measured in docs/results.md).

Both condition on the deep features of the observed image (the copy's contracting path, without ``z``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from hypersiren.prior.blocks import ResBlock
from hypersiren.prior.config import SAMPLERS
from hypersiren.prior.grid_encoder import GridEncoder


class SamplerTerms(NamedTuple):
    """What the sampler's training path adds to the model's output, per image ``(B,)``.

    Attributes:
        kl: ``KL(q || N(0, I))`` (``flow``) or ``KL(q || p(z | observed))`` (``gaussian``), summed over ``z``.
        prior_loss: the flow's velocity MSE (``flow``), zero for ``gaussian``.
    """

    kl: torch.Tensor
    prior_loss: torch.Tensor


class Posterior(nn.Module):
    """``q(z | the whole image, observed)``: a strided CNN -> ``(mu, logvar)``, each ``(B, d, g, g)``.

    Args:
        channels: image channels (the mask is one more).
        noise_dim: ``d``.
        width: channels of the first stage, doubled per stage up to 4x.
        stages: stride-2 stages (the grid encoder's, so the map is ``g x g``).
    """

    def __init__(self, channels: int, noise_dim: int, width: int, stages: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels + 1, width, 3, padding=1)]
        c = width
        for i in range(stages):
            out = width * min(2 ** (i + 1), 4)
            layers.append(ResBlock(c, out, stride=2))
            c = out
        layers += [nn.GroupNorm(min(8, c), c), nn.SiLU(), nn.Conv2d(c, 2 * noise_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor, observed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C, H, W)`` (every pixel), ``(B, 1, H, W)`` -> ``(mu, logvar)``."""
        mu, logvar = self.net(torch.cat([images, observed.to(images.dtype)], 1)).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 6)


def _time_features(t: torch.Tensor, size: int) -> torch.Tensor:
    """``(B,)`` in [0, 1] -> ``(B, size)`` sinusoidal features (as diffusion models embed their time)."""
    freqs = torch.exp(torch.arange(size // 2, device=t.device) * (-math.log(1000.0) / max(1, size // 2 - 1)))
    angles = t[:, None].float() * 1000.0 * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class FlowPrior(nn.Module):
    """``p(z | observed)`` by conditional rectified flow on the ``g x g`` latent map.

    Args:
        deep_channels: channels of the deep features it is conditioned on.
        noise_dim: ``d``.
        width: the velocity network's channels.
        blocks: its residual blocks (each modulated by the time).
    """

    def __init__(self, deep_channels: int, noise_dim: int, width: int, blocks: int = 3) -> None:
        super().__init__()
        self.width = width
        self.inp = nn.Conv2d(noise_dim + deep_channels, width, 3, padding=1)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2 * width * blocks))
        self.blocks = nn.ModuleList(ResBlock(width, width) for _ in range(blocks))
        self.out = nn.Sequential(nn.GroupNorm(min(8, width), width), nn.SiLU(),
                                 nn.Conv2d(width, noise_dim, 3, padding=1))  # fmt: skip

    def velocity(self, z: torch.Tensor, t: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:
        """``v(z_t, t | deep)``: ``(B, d, g, g)``, ``(B,)``, ``(B, C, g, g)`` -> ``(B, d, g, g)``."""
        h = self.inp(torch.cat([z, deep.to(z.dtype)], 1))
        films = self.time(_time_features(t, self.width)).chunk(2 * len(self.blocks), dim=1)
        for i, block in enumerate(self.blocks):
            scale, shift = films[2 * i][..., None, None], films[2 * i + 1][..., None, None]
            h = block(h * (1 + scale) + shift)
        return self.out(h)

    def loss(self, z1: torch.Tensor, deep: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The flow-matching loss per image ``(B,)``: ``|v(z_t, t) - (z1 - z0)|^2`` at ``z_t = (1 - t) z0 + t z1``."""
        z0 = torch.randn(z1.shape, generator=generator, device=z1.device, dtype=z1.dtype)
        t = torch.rand(len(z1), generator=generator, device=z1.device)
        zt = (1 - t)[:, None, None, None] * z0 + t[:, None, None, None] * z1
        return (self.velocity(zt, t, deep) - (z1 - z0)).pow(2).flatten(1).mean(1)

    def sample(self, deep: torch.Tensor, noise: torch.Tensor, steps: int) -> torch.Tensor:
        """``steps`` Euler steps from the N(0, I) ``noise`` ``(B, d, g, g)`` to a draw of ``p(z | observed)``."""
        z, shape = noise, noise.shape
        for i in range(steps):
            t = torch.full((shape[0],), i / steps, device=deep.device)
            z = z + self.velocity(z, t, deep) / steps
        return z

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:
        """``KL(q || N(0, I))`` per image, summed over ``z``: the flow learns ``q``'s draws; this keeps them tame."""
        return gaussian_kl(mu, logvar, torch.zeros_like(mu), torch.zeros_like(logvar))


class GaussianPrior(nn.Module):
    """``p(z | observed)`` a diagonal Gaussian from the deep features (the plain conditional VAE)."""

    def __init__(self, deep_channels: int, noise_dim: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(deep_channels, width, 3, padding=1), ResBlock(width, width),
                                 nn.GroupNorm(min(8, width), width), nn.SiLU(),
                                 nn.Conv2d(width, 2 * noise_dim, 1))  # fmt: skip

    def params(self, deep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(deep).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 6)

    def loss(self, z1: torch.Tensor, deep: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return z1.new_zeros(len(z1))

    def sample(self, deep: torch.Tensor, noise: torch.Tensor, steps: int) -> torch.Tensor:
        mu, logvar = self.params(deep)
        return mu + (0.5 * logvar).exp() * noise

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:
        return gaussian_kl(mu, logvar, *self.params(deep))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, e^logvar) || N(mu_p, e^logvar_p))`` per image ``(B,)``, summed over the other dimensions, in
    float32 (under bf16 autocast the terms of a KL near zero round to noise of either sign)."""
    mu, logvar, mu_p, logvar_p = (t.float() for t in (mu, logvar, mu_p, logvar_p))
    kl = 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p).pow(2)) / logvar_p.exp() - 1)
    return kl.flatten(1).sum(1)


class Sampler(nn.Module):
    """A copy of the mean prior's grid encoder that takes ``z``, its posterior and its prior.

    Args:
        kind: ``flow`` or ``gaussian`` (:data:`SAMPLERS`).
        encoder: the grid encoder's constructor arguments (as the mean prior's), without ``noise_dim``.
        channels: image channels.
        noise_dim: ``d``, the latent's channels per deepest cell.
        width: the posterior's and the prior's width.
        steps: Euler steps of ``flow`` sampling.
    """

    def __init__(self, kind: str, encoder: dict, channels: int, noise_dim: int, width: int, steps: int) -> None:
        super().__init__()
        if kind not in SAMPLERS[1:]:
            raise ValueError(f"sampler is one of {', '.join(SAMPLERS)}, got {kind!r}")
        self.noise_dim, self.steps, self.stages = noise_dim, steps, encoder["stages"]
        self.encoder = GridEncoder(channels, **encoder, noise_dim=noise_dim)
        self.posterior = Posterior(channels, noise_dim, width // 2, self.stages)
        deep = self.encoder.deep_channels
        self.prior = FlowPrior(deep, noise_dim, width) if kind == "flow" else GaussianPrior(deep, noise_dim, width)

    def start_from(self, encoder: GridEncoder) -> None:
        """Copy the mean prior's encoder into the sampler's (its noise input stays zero: the same completions)."""
        missing, unexpected = self.encoder.load_state_dict(encoder.state_dict(), strict=False)
        if unexpected or any(not k.startswith("inject.") for k in missing):
            raise ValueError(f"the mean encoder does not fit the sampler's: missing {missing}, unexpected {unexpected}")

    def noise(self, n: int, side: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """``n`` draws of the N(0, I) noise a sample starts from, for images of ``side``: ``(n, d, g, g)``."""
        g = side
        for _ in range(self.stages):
            g = math.ceil(g / 2)  # each stride-2 stage of the encoder
        return torch.randn((n, self.noise_dim, g, g), generator=generator, device=device)

    def draw(self, deep: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """A draw of ``p(z | observed)`` per row of ``deep`` ``(N, C, g, g)`` from ``noise`` ``(N, d, g, g)``."""
        if noise.shape != (len(deep), self.noise_dim, *deep.shape[-2:]):
            raise ValueError(f"noise must be {(len(deep), self.noise_dim, *deep.shape[-2:])}, got {tuple(noise.shape)}")
        return self.prior.sample(deep, noise.to(deep.device, deep.dtype), self.steps)
