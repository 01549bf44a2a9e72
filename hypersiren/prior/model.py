"""HyperSiren: encoder -> latent -> hypernetwork -> SIREN, a learned prior over SIRENs: the one forward path.

SIREN Sec. 4.4 and supplement Sec. 9. The CelebA model of the paper is ``HyperSirenConfig.paper()``:
the official CNN encoder, the per-tensor hypernetwork and a 256 x 3 RGB SIREN. The default is a lighter,
resolution-agnostic model (mask-aware CNN encoder, FiLM-modulated shared SIREN) that trains on a CPU.
Its configuration is :mod:`hypersiren.prior.config`; saving and strict loading (``save_pretrained``,
``from_pretrained``: safetensors + a flat ``config.json``) are :mod:`hypersiren.prior.checkpoints`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from typing import NamedTuple

import torch
from torch import nn

from hypersiren.masks.resample import resize_observed
from hypersiren.prior import rendering
from hypersiren.prior.checkpoints import HubCheckpoints
from hypersiren.prior.config import RETIRED_SAMPLERS, HyperSirenConfig
from hypersiren.prior.encoders import build_encoder
from hypersiren.prior.hypernet import build_hypernet
from hypersiren.prior.latent import Generated, Latent
from hypersiren.prior.rendering import paste_observed
from hypersiren.prior.sampler import Sampler, SamplerTerms
from hypersiren.siren.coords import take_pixels
from hypersiren.siren.network import Siren
from hypersiren.utils.config import from_dict

logger = logging.getLogger(__name__)


class HyperSirenOutput(NamedTuple):
    """The forward pass's result.

    Attributes:
        images: ``(B, C, H, W)`` the generated SIREN rendered on the input grid (not clamped), or
            ``(B, C, S)`` at the ``pixels`` given to :meth:`HyperSiren.forward`.
        latent: the encoder's :class:`~hypersiren.prior.latent.Latent` (global code, and the grid of a grid prior).
        generated: the per-sample SIREN parameters / modulations / code grid.
        sampler: the sampler's training terms (:class:`~hypersiren.prior.sampler.SamplerTerms`) when the forward
            was given ``truth``, else None.
    """

    images: torch.Tensor
    latent: Latent
    generated: Generated
    sampler: SamplerTerms | None = None


class HyperSiren(
    nn.Module,
    HubCheckpoints,
    library_name="hypersiren",
    license="mit",
    tags=["siren", "implicit-neural-representation", "hypernetwork", "inpainting"],
    repo_url="https://github.com/hypersiren/hypersiren",
    paper_url="https://arxiv.org/abs/2006.09661",
):
    """A prior over SIRENs: ``(image, observed)`` -> latent -> SIREN parameters -> image at any resolution.

    Args:
        config: a :class:`HyperSirenConfig` or the dict of one (as read from ``config.json``).
    """

    config_class = HyperSirenConfig

    def __init__(self, config: HyperSirenConfig | dict | None = None) -> None:
        super().__init__()
        self.retired_prefixes: tuple[str, ...] = ()  # weights of a checkpoint that this version does not load
        if config is None:
            config = HyperSirenConfig()
        elif isinstance(config, dict):  # as read from a config.json: a field it predates has its old meaning
            config = {**HyperSirenConfig.SAVED_BEFORE, **config}
            if config.get("sampler") in RETIRED_SAMPLERS:
                logger.warning(
                    "this checkpoint's sampler (%r, a latent sampler of 0.2.dev, retired: its draws were "
                    "under-dispersed) is not loaded: the prior completes with its mean only (inpaint, "
                    "render); sample() needs a prior trained with sampler='pixel_flow'",
                    config["sampler"],
                )
                config = {k: v for k, v in config.items() if not k.startswith("sampler")}
                self.retired_prefixes = ("sampler.",)
            config = from_dict(HyperSirenConfig, config)
        self.config = config
        c = config
        grid = {}
        if c.encoder == "grid":
            grid = dict(
                grid_dim=c.grid_dim,
                grid_stride=c.grid_stride,
                grid_input=c.grid_input,
                global_code=c.grid_global,
                fill_scales=c.grid_fill,
                stages=c.grid_stages,
                width_mult=c.grid_width_mult,
                mid_blocks=c.grid_mid_blocks,
                attention=c.grid_attention,
            )
        self.encoder = build_encoder(
            c.encoder,
            channels=c.channels,
            latent_dim=c.latent_dim,
            image_size=c.image_size,
            width=c.encoder_width,
            **grid,
        )
        self.siren = Siren(
            in_features=2,
            hidden_features=c.hidden_features,
            hidden_layers=c.hidden_layers,
            out_features=c.channels,
            first_omega_0=c.first_omega_0,
            hidden_omega_0=c.hidden_omega_0,
        )
        self.hypernet = build_hypernet(
            c.hypernet,
            latent_dim=c.latent_dim,
            siren=self.siren,
            hidden_features=c.hyper_hidden_features,
            hidden_layers=c.hyper_hidden_layers,
            grid_dim=c.grid_dim,
            grid_scale=c.grid_scale,
            grid_global=c.grid_global,
            align_corners=c.coordinates == "corners",
            cell=c.cell_input,
        )
        if c.hypernet == "full":
            self.siren.requires_grad_(False)  # a template only: every parameter is generated
        self.sampler = None
        if c.sampler == "pixel_flow":
            self.sampler = Sampler(
                channels=c.channels,
                code_dim=c.grid_dim if c.sampler_codes else 0,
                width=c.sampler_width,
                stages=c.sampler_stages,
                blocks=c.sampler_blocks,
                steps=c.sampler_steps,
                scale=c.sampler_scale,
                churn=c.sampler_churn,
                target=c.sampler_target,
                time=c.sampler_time,
            )

    def encode(self, images: torch.Tensor, observed: torch.Tensor, encoder_dtype: torch.dtype | None = None) -> Latent:
        """``(B, C, H, W)`` in [-1, 1], ``(B, 1, H, W)`` bool -> :class:`Latent` (code ``(B, latent_dim)``).

        Pictures of another side than ``config.image_size`` are first resampled to it, mask-aware
        (:func:`hypersiren.masks.resize_observed`): the encoder reads faces at the scale it was trained on.

        Args:
            encoder_dtype: run the encoder under autocast to this dtype (e.g. ``torch.bfloat16``: the
                convolutions are the cost of inference on a CPU) and return the latent in float32.
        """
        images, observed = self.model_input(images, observed)
        # no autocast context at all without a dtype: an enabled=False one would switch off a caller's autocast
        cast = torch.autocast(images.device.type, dtype=encoder_dtype) if encoder_dtype else contextlib.nullcontext()
        with cast:
            latent = self.encoder(images, observed)
        latent = latent if isinstance(latent, Latent) else Latent(latent)
        return latent.map(torch.Tensor.float) if encoder_dtype is not None else latent

    def model_input(self, images: torch.Tensor, observed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Check ``(B, C, H, W)`` / ``(B, 1, H, W)`` and resample them to the model's side (mask-aware)."""
        if images.dim() != 4 or images.shape[1] != self.config.channels:
            raise ValueError(f"expected images (B, {self.config.channels}, H, W), got {tuple(images.shape)}")
        if observed.shape != (images.shape[0], 1, *images.shape[2:]):
            raise ValueError(
                f"observed must be (B, 1, H, W) = {(images.shape[0], 1, *images.shape[2:])}, "
                f"got {tuple(observed.shape)}"
            )
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images, observed = resize_observed(images, observed, size)
        return images, observed

    def generate(self, latent: Latent | torch.Tensor) -> Generated:
        """A :class:`Latent` (or a bare ``(B, latent_dim)`` code) -> the per-sample SIREN."""
        return self.hypernet(latent)

    def forward(
        self,
        images: torch.Tensor,
        observed: torch.Tensor,
        pixels: torch.Tensor | None = None,
        *,
        points: torch.Tensor | None = None,
        point_scales: float | torch.Tensor = 0.0,
        size: tuple[int, int] | None = None,
        chunk: int | None = None,
        encoder_dtype: torch.dtype | None = None,
        render_dtype: torch.dtype | None = None,
        truth: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> HyperSirenOutput:
        """Encode the observed pixels and render the generated SIRENs (not clamped): the one path through the model.

        Args:
            images: ``(B, C, H, W)`` in [-1, 1]; only the observed pixels are read.
            observed: ``(B, 1, H, W)`` bool.
            pixels: optional ``(S,)`` flat indices into the rendered grid: render only there (training on a
                pixel subset, as the official code does for video); ``.images`` is then ``(B, C, S)``.
            points: optional ``(N, 2)`` points anywhere in the image (see :meth:`decode_points`), instead of a
                grid: ``.images`` is then ``(B, C, N)`` (training off the pixel lattice).
            point_scales: with ``points``, their rendering scale (see ``scale`` of :meth:`decode_points`).
            size: ``(height, width)`` to render at (default: the input's).
            chunk: render this many samples at a time (see :meth:`decode`).
            encoder_dtype: see :meth:`encode`.
            render_dtype: see ``dtype`` of :meth:`decode`.
            truth: the whole images ``(B, C, H, W)``: the sampler's training path (:mod:`hypersiren.prior.sampler`):
                ``.images`` is the mean completion at the model's side (no autograd history: the mean prior is
                fixed) and ``.sampler`` the flow's loss on ``truth``; the other rendering arguments do not apply.
            generator: the noise and times of the sampler's loss (seeded per step, for an exact resume).
        """
        if truth is not None:
            return self._sampler_terms(images, observed, truth, generator)
        latent = self.encode(images, observed, encoder_dtype)
        generated = self.generate(latent)
        if points is not None:
            if pixels is not None or size is not None:
                raise ValueError("give points, or pixels / size, not both")
            rendered = self.decode_points(generated, points, chunk, render_dtype, point_scales)
            return HyperSirenOutput(rendered, latent, generated)
        height, width = size or images.shape[-2:]
        rendered = self.decode(generated, height, width, pixels, chunk, render_dtype)
        return HyperSirenOutput(rendered, latent, generated)

    def _sampler_terms(
        self, images: torch.Tensor, observed: torch.Tensor, truth: torch.Tensor, generator: torch.Generator | None
    ) -> HyperSirenOutput:
        """The sampler's training path: the mean completion (fixed), and the flow's loss from it to ``truth``."""
        if self.sampler is None:
            raise ValueError("this model has no sampler (config.sampler='none'): there is nothing to train on truth")
        if truth.shape != images.shape:
            raise ValueError(f"truth must be shaped like the images {tuple(images.shape)}, got {tuple(truth.shape)}")
        with torch.no_grad():
            truth, _ = self.model_input(truth, torch.ones_like(observed))
            images, observed = self.model_input(images, observed)
            mean, latent, generated = self.mean_completion(images, observed)
        terms = SamplerTerms(self.sampler.loss(truth, mean, observed, latent.grid, generator))
        return HyperSirenOutput(mean, latent, generated, terms)

    def mean_completion(self, images: torch.Tensor, observed: torch.Tensor) -> tuple[torch.Tensor, Latent, Generated]:
        """The mean prior's completion at the model's side, observed pixels kept, with its latent and SIREN.

        Args:
            images, observed: at the model's side (:meth:`model_input`).

        Returns:
            ``(B, C, S, S)`` in [-1, 1], the :class:`Latent` and the :class:`Generated`.
        """
        latent = self.encode(images, observed)
        generated = self.generate(latent)
        rendered = self.decode(generated, *images.shape[-2:])
        return paste_observed(rendered, images, observed), latent, generated

    @torch.no_grad()
    def draw(
        self,
        images: torch.Tensor,
        observed: torch.Tensor,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> Generated:
        """``num_samples`` SIRENs per image drawn by the sampler: a :class:`Generated` of ``B K`` (image-major), for
        :meth:`decode` / :meth:`decode_points` (what :meth:`sample` renders).

        Each draw is the sampler's completion of the missing pixels (:meth:`Sampler.complete`: from the mean completion,
        the observed pixels kept) encoded by the mean prior with every pixel observed.

        Args:
            generator: draws the noise the samples start from (on the model's device); None: the global one.
            noise: that noise itself, ``(B K, T, C, S, S)`` at the model's side ``S`` as :meth:`Sampler.noise`
                makes it (e.g. each image's from its own generator, so its samples do not depend on the batch it is
                in); then ``generator`` is unused.

        Raises:
            ValueError: the model has no sampler.
        """
        if self.sampler is None:
            raise ValueError(
                "this model has no sampler (config.sampler='none'): it completes with its mean only "
                "(inpaint, render); load a prior trained with one"
            )
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        x, obs = self.model_input(images, observed)
        mean, latent, _ = self.mean_completion(x, obs)  # once per image, however many draws
        k = num_samples
        mean, obs, codes = (t.repeat_interleave(k, 0) for t in (mean, obs, latent.grid))  # (B K, ...) image-major
        if noise is None:
            noise = self.sampler.noise(len(mean), x.shape[-1], generator, mean.device)
        drawn = self.sampler.complete(mean, obs, codes, noise)  # (B K, C, S, S)
        return self.generate(self.encode(drawn, torch.ones_like(obs)))

    def set_sampler_churn(self, churn: float) -> None:
        """Draw by the SDE with ``churn`` from now on (0: the flow's ODE; :class:`Sampler`'s ``churn``); the config
        follows, so a saved model keeps it.

        Raises:
            ValueError: the model has no sampler.
            ConfigError: ``churn`` is negative.
        """
        if self.sampler is None:
            raise ValueError("this model has no sampler: it completes with its mean only")
        self.config = dataclasses.replace(self.config, sampler_churn=churn)  # validates
        self.sampler.churn = churn

    @torch.no_grad()
    def sample(
        self,
        images: torch.Tensor,
        observed: torch.Tensor,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        size: tuple[int, int] | int | None = None,
        chunk: int | None = 8,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw completions: ``(B, K, C, H, W)`` in [-1, 1], each sample a SIREN.

        The randomness enters through the sampler (:mod:`hypersiren.prior.sampler`), before the SIREN, never as noise
        on its pixels; the same generator gives the same samples. With nothing observed it draws new faces. An
        inference call: no autograd history.

        Args:
            images, observed: as for :meth:`inpaint` (another side is resampled to the model's).
            num_samples: ``K`` per image.
            generator: the draws' generator (on the model's device); None: the global one.
            size: None: at the input's side, the observed pixels kept; ``(H', W')`` (or one side): every sample's
                SIREN rendered there, as :meth:`render` does.
            chunk: render this many samples at a time (the same result).
            noise: see :meth:`draw`.

        Raises:
            ValueError: the model has no sampler.
        """
        b, k = len(images), num_samples
        generated = self.draw(images, observed, num_samples, generator, noise)
        if size is not None:
            height, width = (size, size) if isinstance(size, int) else size
            return self.decode(generated, height, width, chunk=chunk).clamp(-1, 1).unflatten(0, (b, k))
        rendered = self.decode(generated, *images.shape[-2:], chunk=chunk)
        repeated = (t.repeat_interleave(k, 0) for t in (images, observed))
        return paste_observed(rendered, *repeated).unflatten(0, (b, k))  # (B, K, C, H, W)

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
            chunk: render this many samples at a time (same result).
            dtype: render under autocast to this dtype (``torch.bfloat16``: how the priors trained under bf16
                autocast rendered in training) and return float32. None: the parameters' dtype (and, without
                autograd, the fused renderer: :mod:`hypersiren.prior.fused_render`).
        """
        coords = rendering.pixel_coords(self.config, height, width, self.siren.last.weight.device)  # (H W, 2)
        if pixels is not None:
            coords = take_pixels(coords.T.unflatten(1, (height, width)), pixels).T  # (2, H, W) -> (S, 2)
        n, stride = self.config.image_size, self.config.grid_stride
        on_codes = stride == 1 and (height, width) == (n, n)  # a stride-1 grid at its own side: gather the codes
        scale = 0.5 * (math.log2(height / n) + math.log2(width / n))
        values = rendering.render(
            self.config,
            self.hypernet,
            self.siren,
            generated,
            coords,
            on_codes=on_codes,
            chunk=chunk,
            dtype=dtype,
            scale=scale,
        )  # (B, C, H W) or (B, C, S)
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
        coords = rendering.siren_coords(self.config, points)
        return rendering.render(
            self.config, self.hypernet, self.siren, generated, coords, chunk=chunk, dtype=dtype, scale=scale
        )

    def pixel_coords(self, height: int, width: int) -> torch.Tensor:
        """The SIREN's inputs at the pixel centres of a ``height x width`` rendering (:func:`~hypersiren.prior.
        rendering.pixel_coords`)."""
        return rendering.pixel_coords(self.config, height, width, self.siren.last.weight.device)

    def siren_coords(self, points: torch.Tensor) -> torch.Tensor:
        """Points of the image -> the SIREN's inputs (:func:`rendering.siren_coords`)."""
        return rendering.siren_coords(self.config, points)

    @torch.no_grad()
    def render(
        self, images: torch.Tensor, observed: torch.Tensor, height: int | None = None, width: int | None = None, **kw
    ) -> torch.Tensor:
        """The completed function rendered at any resolution: ``(B, C, height, width)`` in [-1, 1].

        ``height`` alone gives a square; keyword arguments go to :meth:`forward` (``chunk``, ``encoder_dtype``,
        ``render_dtype``). An inference call: the result has no autograd history (train through :meth:`forward`).
        """
        height = height or images.shape[-2]
        width = width or height if height != images.shape[-2] else width or images.shape[-1]
        return self(images, observed, size=(height, width), **kw).images.clamp(-1.0, 1.0)

    @torch.no_grad()
    def inpaint(self, images: torch.Tensor, observed: torch.Tensor, **kw) -> torch.Tensor:
        """Complete the missing pixels: ``(B, C, H, W)`` in [-1, 1], observed pixels kept.

        Keyword arguments go to :meth:`forward` (``chunk``, ``encoder_dtype``, ``render_dtype``). An inference call:
        the result has no autograd history.
        """
        return paste_observed(self(images, observed, **kw).images, images, observed)
