"""The prior's configuration: everything that defines a HyperSiren, flat so it round-trips through ``config.json``.

Field = YAML key = ``--flag`` = constructor argument (the package convention). A bad value raises
:class:`~hypersiren.utils.config.ConfigError` naming the field when the config is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from hypersiren.utils.config import ConfigError

SAMPLERS = ("none", "pixel_flow")  # the generative part: none, or a conditional rectified flow over the missing pixels
# 0.2.dev's samplers over a latent (under-dispersed: docs/results.md), retired: a config.json naming one loads the mean
# prior without them (:attr:`HyperSirenConfig.RETIRED`)
RETIRED_SAMPLERS = ("flow", "gaussian")
SAMPLER_TARGETS = ("velocity", "clean")  # what the flow's U-Net outputs (Sampler's target)
SAMPLER_TIMES = ("uniform", "logit_normal")  # how its training draws the time (Sampler's time)


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
    # where the training pixels sat in the SIREN's [-1, 1]: centres (align_corners=False: renderings register with
    # the real image at every size) | corners (0.1's linspace; a rendering's coordinates are mapped onto it)
    coordinates: str = "centres"
    cell_input: bool = False  # a rendering's scale shifts the sine layers (LIIF's cell; hypernet='grid' only)
    cell_max_scale: float = 1.0  # the largest log2(rendered / model side) trained; larger renderings use it
    # the generative part (encoder='grid'): none | pixel_flow, a conditional rectified flow from the
    # mean completion to a draw of the missing pixels, each draw then encoded by the mean prior: a SIREN
    sampler: str = "none"
    sampler_width: int = 32  # its U-Net's channels at full resolution (doubled per stage, at most 4x)
    sampler_stages: int = 2  # its U-Net's stride-2 stages
    sampler_blocks: int = 1  # residual blocks per level of its U-Net
    sampler_steps: int = 16  # Euler steps of a draw
    sampler_scale: float = 0.25  # the residual's scale in [-1, 1] units (the flow's data are residual / scale)
    sampler_codes: bool = True  # the flow also reads the mean prior's code grid
    sampler_churn: float = 0.0  # a draw's SDE noise strength kappa (0: the flow's ODE; Sampler's churn)
    sampler_target: str = "velocity"  # what its U-Net outputs: velocity | clean (x-prediction; Sampler's target)
    sampler_time: str = "uniform"  # how its training draws t: uniform | logit_normal (Sampler's time)

    # fields added after 0.1, and the value that a config.json written without them means
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"coordinates": "corners"}

    def __post_init__(self) -> None:
        if self.coordinates not in ("centres", "corners"):
            raise ConfigError(f"coordinates is 'centres' or 'corners', got {self.coordinates!r}")
        if self.cell_input and self.hypernet != "grid":
            raise ConfigError(f"cell_input needs hypernet='grid', got hypernet={self.hypernet!r}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler is one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.sampler != "none" and self.encoder != "grid":
            raise ConfigError(f"sampler={self.sampler!r} needs encoder='grid', got encoder={self.encoder!r}")
        for name, least in (("sampler_width", 8), ("sampler_stages", 1), ("sampler_blocks", 1), ("sampler_steps", 1)):
            if getattr(self, name) < least:
                raise ConfigError(f"{name} must be >= {least}, got {getattr(self, name)}")
        if self.sampler_width % 8:
            raise ConfigError(f"sampler_width must be a multiple of 8 (its group norms), got {self.sampler_width}")
        if not self.sampler_churn >= 0:
            raise ConfigError(f"sampler_churn must be >= 0, got {self.sampler_churn}")
        for name, allowed in (("sampler_target", SAMPLER_TARGETS), ("sampler_time", SAMPLER_TIMES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} is one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not self.sampler_scale > 0:
            raise ConfigError(f"sampler_scale must be > 0, got {self.sampler_scale}")
        if (self.encoder == "grid") != (self.hypernet == "grid"):
            raise ConfigError(
                f"encoder='grid' and hypernet='grid' go together, got encoder={self.encoder!r} and "
                f"hypernet={self.hypernet!r}"
            )
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
        values = dict(
            latent_dim=16, encoder_width=8, hyper_hidden_features=16, hidden_features=16, hidden_layers=1, grid_dim=8
        )
        return cls(**{**values, **overrides})

    @classmethod
    def grid(cls, **overrides: Any) -> HyperSirenConfig:
        """The grid prior: U-Net encoder, a code per pixel plus a global code, shifts of a shared SIREN."""
        return cls(**{"encoder": "grid", "hypernet": "grid", **overrides})
