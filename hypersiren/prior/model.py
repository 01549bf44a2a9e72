"""HyperSiren: encoder -> latent -> hypernetwork -> SIREN, a learned prior over SIRENs: the one forward path.

SIREN Sec. 4.4 and supplement Sec. 9. The CelebA model of the paper is ``HyperSirenConfig.paper()``:
the official CNN encoder, the per-tensor hypernetwork and a 256 x 3 RGB SIREN. The default is a lighter,
resolution-agnostic model (mask-aware CNN encoder, FiLM-modulated shared SIREN) that trains on a CPU.
Its configuration is :mod:`hypersiren.prior.config`; saving and strict loading (``save_pretrained``,
``from_pretrained``: safetensors + a flat ``config.json``) are :mod:`hypersiren.prior.checkpoints`.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import torch
from torch import nn

from hypersiren.masks.resample import resize_observed
from hypersiren.prior.checkpoints import HubCheckpoints
from hypersiren.prior.config import HyperSirenConfig
from hypersiren.prior.encoders import build_encoder
from hypersiren.prior.hypernet import build_hypernet
from hypersiren.prior.latent import Generated, Latent
from hypersiren.prior.rendering import Rendering, paste_observed
from hypersiren.prior.sampler import Sampler, SamplerTerms
from hypersiren.prior.sampling import Sampling
from hypersiren.siren.network import Siren
from hypersiren.utils.config import from_dict


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
    Rendering,
    Sampling,
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
        if config is None:
            config = HyperSirenConfig()
        elif isinstance(config, dict):  # as read from a config.json: a field it predates has its old meaning
            config = from_dict(HyperSirenConfig, {**HyperSirenConfig.SAVED_BEFORE, **config})
        self.config = config
        c = config
        grid = {}
        if c.encoder == "grid":
            grid = dict(grid_dim=c.grid_dim, grid_stride=c.grid_stride, grid_input=c.grid_input,
                        global_code=c.grid_global, fill_scales=c.grid_fill, stages=c.grid_stages,
                        width_mult=c.grid_width_mult, mid_blocks=c.grid_mid_blocks,
                        attention=c.grid_attention)  # fmt: skip
        self.encoder = build_encoder(c.encoder, c.channels, c.latent_dim, c.image_size, c.encoder_width, **grid)
        self.siren = Siren(2, c.hidden_features, c.hidden_layers, c.channels, c.first_omega_0, c.hidden_omega_0)
        self.hypernet = build_hypernet(c.hypernet, c.latent_dim, self.siren, c.hyper_hidden_features,
                                       c.hyper_hidden_layers, c.grid_dim, c.grid_scale, c.grid_global,
                                       align_corners=c.coordinates == "corners", cell=c.cell_input)  # fmt: skip
        if c.hypernet == "full":
            self.siren.requires_grad_(False)  # a template only: every parameter is generated
        self.sampler = None
        if c.sampler != "none":
            encoder = dict(latent_dim=c.latent_dim, width=c.encoder_width, **grid)
            self.sampler = Sampler(c.sampler, encoder, c.channels, c.sampler_dim, c.sampler_width, c.sampler_steps)

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
            raise ValueError(f"observed must be (B, 1, H, W) = {(images.shape[0], 1, *images.shape[2:])}, "
                             f"got {tuple(observed.shape)}")  # fmt: skip
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
            truth: the whole images ``(B, C, H, W)``: train the sampler (:mod:`hypersiren.prior.sampler`): its
                posterior reads them, its encoder decodes a draw, and ``.sampler`` holds its KL and prior terms.
            generator: the sampler's draws in training (seeded per step, for an exact resume).
        """
        terms = None
        if truth is not None:
            latent, terms = self._posterior_latent(images, observed, truth, generator)
        else:
            latent = self.encode(images, observed, encoder_dtype)
        generated = self.generate(latent)
        if points is not None:
            if pixels is not None or size is not None:
                raise ValueError("give points, or pixels / size, not both")
            rendered = self.decode_points(generated, points, chunk, render_dtype, point_scales)
            return HyperSirenOutput(rendered, latent, generated, terms)
        height, width = size or images.shape[-2:]
        rendered = self.decode(generated, height, width, pixels, chunk, render_dtype)
        return HyperSirenOutput(rendered, latent, generated, terms)

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
