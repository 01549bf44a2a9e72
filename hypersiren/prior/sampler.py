"""The generative part of a grid prior: a conditional rectified flow that draws the missing pixels from the mean
completion, each draw then a SIREN (ours, after PMRF: Ohayon, Michaeli and Elad, ICLR 2025).

The mean prior's completion is the conditional mean, the average of every face that fits the observed pixels; the
least-MSE estimator among those whose outputs look like real images starts from it and adds what the average lost
(Freirich, Michaeli and Meir 2021; PMRF flows from the posterior mean to the image). Here a small U-Net learns the
velocity of a rectified flow (Liu et al. 2023; flow matching, Lipman et al. 2023) from Gaussian noise on the missing
pixels to the *residual* ``(truth - mean) / sampler_scale`` there, given the mean completion, the ``observed`` mask and
(``sampler_codes``) the mean prior's code grid at each pixel: it only has to learn what the mean averaged away, and
the observed pixels' values reach it through the mean completion at every scale of the U-Net. A draw is the mean
plus ``sampler_scale`` times the flow's end point on the missing pixels (``sampler_steps`` Euler steps), the observed
pixels kept; :class:`~hypersiren.prior.model.HyperSiren` then encodes the drawn face with every pixel observed, so
every draw is a SIREN that renders at any size, and ``inpaint`` / ``render`` stay the mean, untouched.

Deviation from PMRF: its flow starts from the mean plus noise and is not conditioned; ours starts from noise on the
missing pixels only and reads the mask, the mean and the codes (a conditional flow), so a pixel that is observed
never moves.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from hypersiren.prior.config import SAMPLER_TARGETS as TARGETS
from hypersiren.prior.config import SAMPLER_TIMES as TIMES
from hypersiren.prior.grid_encoder import SelfAttention

CLEAN_MIN_GAP = 0.05  # with target="clean", the loss clips 1 - t here when it derives the velocity (as Li and He 2025)


class SamplerTerms(NamedTuple):
    """What the sampler's training path adds to the model's output.

    Attributes:
        loss: ``(B,)`` the flow-matching loss per image: the mean over its missing pixels (and channels) of the
            squared error of the velocity (0 for an image with nothing missing).
    """

    loss: torch.Tensor


def time_features(t: torch.Tensor, size: int) -> torch.Tensor:
    """``(B,)`` in [0, 1] -> ``(B, size)`` sinusoidal features (as diffusion models embed their time)."""
    half = size // 2
    freqs = torch.exp(torch.arange(half, device=t.device) * (-math.log(1000.0) / max(1, half - 1)))
    angles = t[:, None].float() * 1000.0 * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class TimeBlock(nn.Module):
    """Pre-activation residual block whose second normalisation is scaled and shifted by the time (as in ADM).

    Args:
        in_channels, out_channels: widths.
        time_features: the width of the time embedding it reads.
    """

    def __init__(self, in_channels: int, out_channels: int, time_features: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time = nn.Linear(time_features, 2 * out_channels)
        self.norm2 = nn.GroupNorm(min(8, out_channels), out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as its skip: the U-Net starts near the identity path
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """``(B, in, H, W)``, ``(B, time_features)`` -> ``(B, out, H, W)``."""
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.time(emb)[..., None, None].chunk(2, dim=1)  # each (B, out, 1, 1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return self.skip(x) + h


class FlowUNet(nn.Module):
    """The velocity network: a U-Net of time-modulated residual blocks, self-attention at its deepest level.

    Args:
        in_channels: the state and the conditions, stacked.
        out_channels: the velocity's channels.
        width: channels at full resolution; doubled per stage, at most 4x.
        stages: stride-2 stages (the deepest level is ``1 / 2**stages`` of the side).
        blocks: residual blocks per level on the way down (one more on the way up, as in DDPM).
    """

    def __init__(self, in_channels: int, out_channels: int, width: int, stages: int, blocks: int) -> None:
        super().__init__()
        widths = [width * min(2**i, 4) for i in range(stages + 1)]
        emb = 4 * width
        self.width = width
        self.time = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.down, self.downsample, self.up = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        skips, c = [width], width  # the channels of every skip, in the order the way down makes them
        for i, w in enumerate(widths):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(TimeBlock(c, w, emb))
                c = w
                skips.append(c)
            self.down.append(level)
            if i < stages:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList([TimeBlock(c, c, emb), TimeBlock(c, c, emb)])
        self.attention = SelfAttention(c)
        for w in reversed(widths):  # each level's blocks read one skip each, the last made first
            level = nn.ModuleList()
            for _ in range(blocks + 1):
                level.append(TimeBlock(c + skips.pop(), w, emb))
                c = w
            self.up.append(level)
        self.out = nn.Sequential(nn.GroupNorm(min(8, c), c), nn.SiLU(), nn.Conv2d(c, out_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)  # the velocity starts at zero
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)``, ``(B,)`` in [0, 1] -> ``(B, out_channels, H, W)``."""
        emb = self.time(time_features(t, self.width))  # (B, 4 width)
        h = self.stem(x)
        skips = [h]
        for i, level in enumerate(self.down):
            for block in level:
                h = block(h, emb)
                skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)  # (B, c, ceil(H / 2), ceil(W / 2))
                skips.append(h)
        h = self.mid[1](self.attention(self.mid[0](h, emb)), emb)
        for level in self.up:
            for block in level:
                skip = skips.pop()
                if h.shape[-2:] != skip.shape[-2:]:  # up a level; any side, not only multiples of 2**stages
                    h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
                h = block(torch.cat([h, skip], dim=1), emb)
        return self.out(h)


class Sampler(nn.Module):
    """``p(missing pixels | observed)``: a conditional rectified flow on the residual from the mean completion.

    Args:
        channels: image channels.
        code_dim: channels of the mean prior's code grid it reads (0: none).
        width, stages, blocks: the velocity U-Net's (:class:`FlowUNet`).
        steps: Euler steps of a draw.
        scale: the residual's scale in the model's [-1, 1] units (the flow's data are ``residual / scale``).
        churn: ``kappa``, how much noise a draw's steps add and take away (0: the flow's ODE in Euler steps; > 0: the
            SDE with the same marginals, ``dx = (v - kappa z_hat) dt + sqrt(2 kappa (1 - t)) dW``, ``z_hat`` the
            network's estimate of the starting noise, ``kappa z_hat`` the score term: fresh noise that lets a draw
            correct the network's errors, as EDM's stochastic sampler; :meth:`complete`).
        target: what the U-Net outputs: ``"velocity"`` (``v``, as rectified flows usually do) or ``"clean"`` (the
            clean residual ``r_hat``, whence ``v = (r_hat - x_t) / (1 - t)``, ``1 - t`` clipped at ``CLEAN_MIN_GAP``
            in the loss: x-prediction, which Li and He 2025 find better when a small network must stay on the data's
            manifold); the loss is the velocity's either way.
        time: how training draws ``t``: ``"uniform"`` in [0, 1], or ``"logit_normal"`` (``sigmoid(N(0, 1))``, more
            weight on the middle of the path, where a draw's structure is decided: Esser et al. 2024).
    """

    def __init__(
        self,
        channels: int,
        code_dim: int,
        width: int,
        stages: int,
        blocks: int,
        steps: int,
        scale: float,
        churn: float = 0.0,
        target: str = "velocity",
        time: str = "uniform",
    ) -> None:
        super().__init__()
        if not churn >= 0:
            raise ValueError(f"churn (the draws' SDE's noise strength) must be >= 0, got {churn}")
        if target not in TARGETS:
            raise ValueError(f"target is one of {', '.join(TARGETS)}, got {target!r}")
        if time not in TIMES:
            raise ValueError(f"time is one of {', '.join(TIMES)}, got {time!r}")
        self.channels, self.code_dim, self.steps, self.scale, self.churn = channels, code_dim, steps, scale, churn
        self.target, self.time = target, time
        self.net = FlowUNet(2 * channels + 1 + code_dim, channels, width, stages, blocks)

    def velocity(
        self,
        state: torch.Tensor,
        t: torch.Tensor,
        mean: torch.Tensor,
        observed: torch.Tensor,
        codes: torch.Tensor | None,
        min_gap: float = 1e-6,
    ) -> torch.Tensor:
        """``v(state, t | mean, observed, codes)``: ``(B, C, H, W)``, ``(B,)`` -> ``(B, C, H, W)``.

        Args:
            mean: ``(B, C, H, W)`` the mean completion (observed pixels kept).
            observed: ``(B, 1, H, W)`` bool.
            codes: ``(B, code_dim, h, w)`` the mean prior's code grid (resampled to ``H x W`` if another side).
            min_gap: with ``target="clean"``, ``1 - t`` is clipped here (the loss clips at ``CLEAN_MIN_GAP``; a draw's
                steps have ``1 - t >= 1 / steps``, so its last step lands on the clean estimate exactly).
        """
        inputs = [state, mean.to(state.dtype), observed.to(state.dtype)]
        if self.code_dim:
            if codes is None:
                raise ValueError(f"this sampler reads the mean prior's codes ({self.code_dim} channels): give codes")
            if codes.shape[-2:] != state.shape[-2:]:
                codes = F.interpolate(codes, size=state.shape[-2:], mode="nearest")
            inputs.append(codes.to(state.dtype))
        out = self.net(torch.cat(inputs, dim=1), t)
        if self.target == "clean":  # the clean residual's estimate -> the velocity that reaches it by t = 1
            return (out - state) / (1 - t).clamp(min=min_gap)[:, None, None, None].to(out.dtype)
        return out

    def loss(
        self,
        truth: torch.Tensor,
        mean: torch.Tensor,
        observed: torch.Tensor,
        codes: torch.Tensor | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The flow-matching loss per image ``(B,)``: ``|v(x_t, t) - (r - z)|^2`` over the missing pixels, at
        ``x_t = (1 - t) z + t r``, ``r = (truth - mean) / scale``, ``z ~ N(0, I)`` on the missing pixels, ``t`` in
        [0, 1] drawn as ``time`` says.
        """
        missing = (~observed).to(truth.dtype)  # (B, 1, H, W)
        residual = (truth - mean) / self.scale * missing
        z = torch.randn(truth.shape, generator=generator, device=truth.device, dtype=truth.dtype) * missing
        if self.time == "logit_normal":
            t = torch.randn(len(truth), generator=generator, device=truth.device, dtype=truth.dtype).sigmoid()
        else:
            t = torch.rand(len(truth), generator=generator, device=truth.device, dtype=truth.dtype)
        state = (1 - t)[:, None, None, None] * z + t[:, None, None, None] * residual
        velocity = self.velocity(state, t, mean, observed, codes, min_gap=CLEAN_MIN_GAP).float()
        error = (velocity - (residual - z)).pow(2) * missing
        count = missing.flatten(1).sum(1) * truth.shape[1]
        return error.flatten(1).sum(1) / count.clamp(min=1)

    @property
    def noise_draws(self) -> int:
        """Noise draws a sample needs per pixel: the start, and with ``churn > 0`` a fresh one for every step but the
        last (``steps`` in all)."""
        return self.steps if self.churn > 0 else 1

    def noise(self, n: int, side: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """``n`` draws of the N(0, I) noise a sample needs, for ``side x side`` images: ``(n, T, C, side, side)``, the
        start and, when ``churn > 0``, the fresh noise of every step but the last (``T = 1`` or ``steps``)."""
        return torch.randn((n, self.noise_draws, self.channels, side, side), generator=generator, device=device)

    def complete(
        self, mean: torch.Tensor, observed: torch.Tensor, codes: torch.Tensor | None, noise: torch.Tensor
    ) -> torch.Tensor:
        """The missing pixels drawn, one completion per row, from ``noise`` (:meth:`noise`'s ``(N, T, C, H, W)``; a
        ``(N, C, H, W)`` start alone when ``churn = 0``): ``(N, C, H, W)`` in [-1, 1], observed pixels kept (the
        pixels of :meth:`HyperSiren.draw`'s SIRENs).

        With ``churn = kappa > 0`` each step but the last is the Euler-Maruyama step of the SDE whose marginals are
        the flow's: on the path ``x_t = t r + (1 - t) z`` the score is ``-E[z | x_t] / (1 - t)`` and ``E[z | x_t] =
        x_t - t v``, so with ``g(t)^2 = 2 kappa (1 - t)`` the drift is ``v + g^2 / 2 * score = v - kappa (x_t - t v)``.
        The last step returns the network's clean estimate ``x_t + (1 - t) v`` (no noise left to take away).

        Args:
            mean, observed, codes: as for :meth:`velocity`, one row per draw.
        """
        count = self.noise_draws
        if noise.dim() == mean.dim():
            noise = noise[:, None]
        if noise.shape != (len(mean), count, *mean.shape[1:]):
            raise ValueError(
                f"noise must be shaped ({len(mean)}, {count}, {', '.join(map(str, mean.shape[1:]))}) "
                f"(the images' shape with {count} noise draw(s) a row: Sampler.noise), got {tuple(noise.shape)}"
            )
        missing = (~observed).to(mean.dtype)
        noise = noise.to(mean.device, mean.dtype)
        state, dt = noise[:, 0] * missing, 1 / self.steps
        for i in range(self.steps):
            t = i / self.steps
            velocity = self.velocity(
                state, torch.full((len(mean),), t, device=mean.device, dtype=mean.dtype), mean, observed, codes
            ).to(mean.dtype)
            if self.churn == 0:
                state = state + velocity * missing * dt  # the ODE's Euler step
            elif i == self.steps - 1:
                state = (state + (1 - t) * velocity) * missing
            else:
                drift = velocity - self.churn * (state - t * velocity)
                kick = math.sqrt(2 * self.churn * (1 - t) * dt) * noise[:, i + 1]
                state = state + (drift * dt + kick) * missing
        return torch.where(observed, mean, (mean + self.scale * state).clamp(-1.0, 1.0))
