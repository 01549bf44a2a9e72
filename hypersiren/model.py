"""HyperSiren: encoder -> latent -> hypernetwork -> SIREN, a learned prior over SIRENs.

SIREN Sec. 4.4 and supplement Sec. 9. The CelebA model of the paper is ``HyperSirenConfig.paper()``:
the official CNN encoder, the per-tensor hypernetwork and a 256 x 3 RGB SIREN. The default is a lighter,
resolution-agnostic model (mask-aware CNN encoder, FiLM-modulated shared SIREN) that trains on a CPU.

Checkpoints are ``model.safetensors`` + a flat ``config.json`` (huggingface_hub
``PyTorchModelHubMixin``), loaded strictly: a missing or unexpected key raises. ``from_pretrained`` also
takes a shipped prior's name (``"celeba32"``) and a training run's ``checkpoint-N/`` folder
(:mod:`hypersiren.checkpoints`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import safetensors.torch
import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from torch import nn

from hypersiren.checkpoints import CheckpointError, model_card, resolve, strip_wrapper_prefix
from hypersiren.config import ConfigError, from_dict
from hypersiren.coords import grid, points_to_image, take_pixels
from hypersiren.encoder import build_encoder
from hypersiren.hypernet import build_hypernet
from hypersiren.latent import Generated, Latent
from hypersiren.masks import resize_observed
from hypersiren.siren import Siren

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


@dataclass
class HyperSirenConfig:
    """Everything that defines a HyperSiren (flat, so it round-trips through ``config.json``)."""

    image_size: int = 32  # training resolution (and the fixed input size of encoder='paper_cnn')
    channels: int = 3
    latent_dim: int = 256
    encoder: str = "conv"  # conv | paper_cnn | set | timm:<name> | grid
    encoder_width: int = 64  # conv / grid encoder: channels of its first stage
    hypernet: str = "film"  # full (the paper's) | film | grid (needs encoder='grid')
    hyper_hidden_features: int = 256
    hyper_hidden_layers: int = 1
    hidden_features: int = 256  # SIREN width
    hidden_layers: int = 3  # SIREN hidden-to-hidden layers
    first_omega_0: float = 30.0
    hidden_omega_0: float = 30.0
    # the grid of local codes (encoder='grid', hypernet='grid')
    grid_dim: int = 64  # size of a local code
    grid_stride: int = 1  # pixels per code along each axis (1, 2, 4 or 8)
    grid_scale: bool = False  # local codes scale the pre-activations too (else shift only)
    grid_global: bool = True  # add the global code's FiLM modulations
    grid_input: bool = True  # the observed values and mask join the grid's last layer
    grid_fill: int = 0  # mask-aware Gaussian fills of the context (sigma 1, 2, 4, ... px) join the encoder's input
    grid_stages: int = 3  # stride-2 stages of the grid encoder (its deepest level is 1 / 2**stages of the side)
    grid_width_mult: int = 4  # the grid encoder's deeper stages have at most this many times encoder_width channels
    grid_mid_blocks: int = 0  # extra residual blocks at the grid encoder's deepest level
    grid_attention: bool = False  # a self-attention block at the grid encoder's deepest level

    def __post_init__(self) -> None:
        if (self.encoder == "grid") != (self.hypernet == "grid"):
            raise ConfigError(f"encoder='grid' and hypernet='grid' go together, got encoder={self.encoder!r} and "
                              f"hypernet={self.hypernet!r}")  # fmt: skip
        for name, least in (("grid_stages", 1), ("grid_width_mult", 1), ("grid_mid_blocks", 0), ("grid_fill", 0)):
            if getattr(self, name) < least:
                raise ConfigError(f"{name} must be >= {least}, got {getattr(self, name)}")

    @classmethod
    def paper(cls) -> HyperSirenConfig:
        """The official CelebA model: CNN encoder + per-tensor hypernetwork + 256 x 3 SIREN (66.1 M)."""
        return cls(encoder="paper_cnn", hypernet="full")

    @classmethod
    def tiny(cls, **overrides: Any) -> HyperSirenConfig:
        """A 16-wide model for tests."""
        values = dict(latent_dim=16, encoder_width=8, hyper_hidden_features=16, hidden_features=16, hidden_layers=1,
                      grid_dim=8)  # fmt: skip
        return cls(**{**values, **overrides})

    @classmethod
    def grid(cls, **overrides: Any) -> HyperSirenConfig:
        """The grid prior: U-Net encoder, a code per pixel plus a global code, shifts of a shared SIREN."""
        return cls(**{"encoder": "grid", "hypernet": "grid", **overrides})


class HyperSirenOutput(NamedTuple):
    """The forward pass's result.

    Attributes:
        images: ``(B, C, H, W)`` the generated SIREN rendered on the input grid (not clamped), or
            ``(B, C, S)`` at the ``pixels`` given to :meth:`HyperSiren.forward`.
        latent: the encoder's :class:`~hypersiren.latent.Latent` (global code, and the grid of a grid prior).
        generated: the per-sample SIREN parameters / modulations / code grid.
    """

    images: torch.Tensor
    latent: Latent
    generated: Generated


class HyperSiren(
    nn.Module,
    PyTorchModelHubMixin,
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

    def __init__(self, config: HyperSirenConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = HyperSirenConfig()
        elif isinstance(config, dict):
            config = from_dict(HyperSirenConfig, config)
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
                                       c.hyper_hidden_layers, c.grid_dim, c.grid_scale, c.grid_global)  # fmt: skip
        if c.hypernet == "full":
            self.siren.requires_grad_(False)  # a template only: every parameter is generated

    def encode(self, images: torch.Tensor, observed: torch.Tensor, encoder_dtype: torch.dtype | None = None) -> Latent:
        """``(B, C, H, W)`` in [-1, 1], ``(B, 1, H, W)`` bool -> :class:`Latent` (code ``(B, latent_dim)``).

        Pictures of another side than ``config.image_size`` are first resampled to it, mask-aware
        (:func:`hypersiren.masks.resize_observed`): the encoder reads faces at the scale it was trained on.

        Args:
            encoder_dtype: run the encoder under autocast to this dtype (e.g. ``torch.bfloat16``: the
                convolutions are the cost of inference on a CPU) and return the latent in float32.
        """
        if images.dim() != 4 or images.shape[1] != self.config.channels:
            raise ValueError(f"expected images (B, {self.config.channels}, H, W), got {tuple(images.shape)}")
        if observed.shape != (images.shape[0], 1, *images.shape[2:]):
            raise ValueError(f"observed must be (B, 1, H, W) = {(images.shape[0], 1, *images.shape[2:])}, "
                             f"got {tuple(observed.shape)}")  # fmt: skip
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images, observed = resize_observed(images, observed, size)
        # no autocast context at all without a dtype: an enabled=False one would switch off a caller's autocast
        cast = torch.autocast(images.device.type, dtype=encoder_dtype) if encoder_dtype else contextlib.nullcontext()
        with cast:
            latent = self.encoder(images, observed)
        latent = latent if isinstance(latent, Latent) else Latent(latent)
        return latent.map(torch.Tensor.float) if encoder_dtype is not None else latent

    def generate(self, latent: Latent | torch.Tensor) -> Generated:
        """A :class:`Latent` (or a bare ``(B, latent_dim)`` code) -> the per-sample SIREN."""
        return self.hypernet(latent)

    def decode(
        self,
        generated: Generated,
        height: int,
        width: int,
        pixels: torch.Tensor | None = None,
        chunk: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """Render generated SIRENs on a ``height x width`` grid -> ``(B, C, height, width)``, not clamped.

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
        if dtype is not None:
            with torch.autocast(self.siren.last.weight.device.type, dtype=dtype):
                return self.decode(generated, height, width, pixels, chunk).float()
        if chunk is not None and chunk < (batch := generated.batch_size):
            parts = [self.decode(generated.take(s, s + chunk), height, width, pixels) for s in range(0, batch, chunk)]
            return torch.cat(parts)
        coords = grid(height, width, device=self.siren.last.weight.device)  # (N, 2), shared by the batch
        if pixels is not None:
            coords = take_pixels(coords.T.unflatten(1, (height, width)), pixels).T  # (2, H, W) -> (S, 2)
            return self.hypernet.render(generated, self.siren, coords).transpose(1, 2)  # (B, C, S)
        return points_to_image(self.hypernet.render(generated, self.siren, coords), height, width)

    def forward(
        self,
        images: torch.Tensor,
        observed: torch.Tensor,
        pixels: torch.Tensor | None = None,
        *,
        size: tuple[int, int] | None = None,
        chunk: int | None = None,
        encoder_dtype: torch.dtype | None = None,
        render_dtype: torch.dtype | None = None,
    ) -> HyperSirenOutput:
        """Encode the observed pixels and render the generated SIRENs (not clamped): the one path through the model.

        Args:
            images: ``(B, C, H, W)`` in [-1, 1]; only the observed pixels are read.
            observed: ``(B, 1, H, W)`` bool.
            pixels: optional ``(S,)`` flat indices into the rendered grid: render only there (training on a
                pixel subset, as the official code does for video); ``.images`` is then ``(B, C, S)``.
            size: ``(height, width)`` to render at (default: the input's).
            chunk: render this many samples at a time (see :meth:`decode`).
            encoder_dtype: see :meth:`encode`.
            render_dtype: see ``dtype`` of :meth:`decode`.
        """
        latent = self.encode(images, observed, encoder_dtype)
        generated = self.generate(latent)
        height, width = size or images.shape[-2:]
        return HyperSirenOutput(self.decode(generated, height, width, pixels, chunk, render_dtype), latent, generated)

    def render(
        self, images: torch.Tensor, observed: torch.Tensor, height: int | None = None, width: int | None = None, **kw
    ) -> torch.Tensor:
        """The completed function rendered at any resolution: ``(B, C, height, width)`` in [-1, 1].

        ``height`` alone gives a square; keyword arguments go to :meth:`forward` (``chunk``, ``encoder_dtype``,
        ``render_dtype``).
        """
        height = height or images.shape[-2]
        width = width or height if height != images.shape[-2] else width or images.shape[-1]
        return self(images, observed, size=(height, width), **kw).images.clamp(-1.0, 1.0)

    def inpaint(self, images: torch.Tensor, observed: torch.Tensor, **kw) -> torch.Tensor:
        """Complete the missing pixels: ``(B, C, H, W)`` in [-1, 1], observed pixels kept.

        Keyword arguments go to :meth:`forward` (``chunk``, ``encoder_dtype``, ``render_dtype``).
        """
        return paste_observed(self(images, observed, **kw).images, images, observed)

    # --- checkpoints: safetensors + flat config.json, strict, atomic ---------------------------------------

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> HyperSiren:
        """Load a checkpoint, in eval mode, strictly.

        Args:
            pretrained_model_name_or_path: a shipped prior's name (``"celeba32"``, see
                :func:`hypersiren.pretrained.available`; from any working directory), a folder written by
                ``save_pretrained``, a training run's ``checkpoint-N/`` folder, or a Hub id ``owner/name``.
            **kwargs: huggingface_hub's (``revision``, ``cache_dir``, ``local_files_only``, ...).

        Raises:
            CheckpointError: none of those, or a missing, corrupt or mismatched checkpoint.
        """
        fields = [f.name for f in dataclasses.fields(HyperSirenConfig)]
        source, run_config = resolve(pretrained_model_name_or_path, fields)
        if run_config is not None:
            kwargs.setdefault("config", run_config)
        return super().from_pretrained(source, **kwargs)

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """The export's ``README.md``: the architecture, and the training record passed as ``training=``.

        huggingface_hub's default card says the model "has been pushed to the Hub" and leaves fields as "More
        Information Needed"; a local export states only what is known.
        """
        num_parameters = sum(p.numel() for p in self.parameters())
        return ModelCard(model_card(dataclasses.asdict(self.config), num_parameters, kwargs.get("training")))

    def _save_pretrained(self, save_directory: Path) -> None:
        save_directory = Path(save_directory)
        tmp = save_directory / (WEIGHTS_NAME + ".tmp")
        safetensors.torch.save_model(self, str(tmp))
        os.replace(tmp, save_directory / WEIGHTS_NAME)  # never a half-written model.safetensors
        (save_directory / CONFIG_NAME).write_text(json.dumps(dataclasses.asdict(self.config), indent=2) + "\n")

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs: Any,
    ) -> HyperSiren:
        if "config" not in model_kwargs:
            raise CheckpointError(f"no {CONFIG_NAME} found for {model_id!r}")
        model = cls(**model_kwargs)
        if os.path.isdir(model_id):
            model_file = os.path.join(model_id, WEIGHTS_NAME)
        else:
            model_file = hf_hub_download(
                repo_id=model_id,
                filename=WEIGHTS_NAME,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        load_weights(model, model_file, strict=strict)
        return model.to(map_location).eval()


def paste_observed(rendered: torch.Tensor, images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """The completion a user sees: the observed pixels of ``images``, the clamped rendering elsewhere.

    Args:
        rendered: ``(B, C, H, W)`` raw model output.
        images, observed: as given to the model, same ``H x W``.
    """
    return torch.where(observed, images, rendered.clamp(-1.0, 1.0))


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load ``model.safetensors`` into ``model``, raising :class:`CheckpointError` with the reason."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file {path}")
    try:
        state = safetensors.torch.load_file(str(path))
    except Exception as err:  # safetensors raises SafetensorError / OSError for truncated or corrupt files
        raise CheckpointError(f"cannot read {path}: corrupt or truncated safetensors file ({err})") from None
    state = strip_wrapper_prefix(state)  # a checkpoint-N/ of a several-process run holds DDP's `module.` keys
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{path} does not match the model config: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}"
        )
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if wrong:
        raise CheckpointError(f"{path} has tensors of the wrong shape for this config: {wrong[:5]}")
    model.load_state_dict(state, strict=strict)
