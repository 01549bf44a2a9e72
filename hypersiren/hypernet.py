"""Hypernetworks: a latent code -> the parameters of a SIREN (SIREN Sec. 4.4, supplement Sec. 9).

- ``full`` (the paper's): one ReLU MLP per SIREN parameter tensor, ``latent -> hidden -> ... -> numel``.
  Deviation in the last layer's init: the official ``hyper_weight_init`` uses Kaiming-normal / 100 weights
  and U(-1/n_in, 1/n_in) biases for every tensor, whose latent term (std ~0.01 for a unit-variance latent)
  is larger than a hidden SIREN weight's own spread (~0.003). We set the bias to a freshly
  SIREN-initialised copy of the tensor it generates and scale the weights so that the latent moves each
  generated value by ~10% of that tensor's init spread: generated SIRENs start SIREN-initialised.
- ``film`` (lighter): a shared, trainable SIREN whose sine layers are modulated per sample,
  ``sin(omega_0 * ((1 + scale) * (W x + b) + shift))``, with (scale, shift) from one MLP of the latent
  (FiLM / functa-style). Its last layer starts near zero, so the SIREN starts SIREN-initialised too.

Both return a :class:`Generated` whose tensors all have a leading batch dimension, evaluated by
:meth:`hypersiren.Siren.forward` with batched matmuls.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from hypersiren.siren import Siren


class Generated(NamedTuple):
    """What a hypernetwork produces for a batch.

    Attributes:
        params: per-sample SIREN parameters by name, each ``(B, *shape)`` (empty for ``film``).
        modulations: per sine layer, ``(B, 2 * hidden_features)`` = (scale, shift) (empty for ``full``).
    """

    params: dict[str, torch.Tensor]
    modulations: tuple[torch.Tensor, ...]

    def tensors(self) -> list[torch.Tensor]:
        """Every generated tensor, for regularisation and test-time optimisation."""
        return list(self.params.values()) + list(self.modulations)

    def take(self, start: int, stop: int) -> Generated:
        """Samples ``start:stop`` of the batch."""
        params = {name: value[start:stop] for name, value in self.params.items()}
        return Generated(params, tuple(m[start:stop] for m in self.modulations))

    def render(self, siren: Siren, coords: torch.Tensor) -> torch.Tensor:
        """Evaluate ``siren`` with these per-sample parameters: ``(N, D)`` -> ``(B, N, out_features)``."""
        mods = [tuple(m.chunk(2, dim=-1)) for m in self.modulations]
        mods = [(1.0 + scale, shift) for scale, shift in mods] if mods else None
        return siren(coords, params=self.params or None, modulations=mods)


def _mlp(in_features: int, hidden_features: int, hidden_layers: int, out_features: int) -> nn.Sequential:
    """The official ``FCBlock`` with ReLU: in -> hidden, ``hidden_layers`` x (hidden -> hidden), -> out."""
    layers: list[nn.Module] = [nn.Linear(in_features, hidden_features), nn.ReLU()]
    for _ in range(hidden_layers):
        layers += [nn.Linear(hidden_features, hidden_features), nn.ReLU()]
    layers.append(nn.Linear(hidden_features, out_features))
    for m in layers:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu", mode="fan_in")
    with torch.no_grad():
        layers[-1].weight.div_(100.0)  # official hyper_weight_init
    return nn.Sequential(*layers)


class FullHypernet(nn.Module):
    """One MLP per SIREN parameter tensor (the paper's hypernetwork, ~52.4 M parameters for 256 x 3).

    Args:
        latent_dim: latent size.
        siren: the SIREN whose parameter names and shapes are generated (its values seed the init).
        hidden_features: MLP width (256 officially).
        hidden_layers: MLP hidden-to-hidden layers (1 officially).
    """

    def __init__(self, latent_dim: int, siren: Siren, hidden_features: int = 256, hidden_layers: int = 1) -> None:
        super().__init__()
        self.shapes = {name: tuple(p.shape) for name, p in siren.named_parameters()}
        self.nets = nn.ModuleDict()
        for name, p in siren.named_parameters():
            net = _mlp(latent_dim, hidden_features, hidden_layers, p.numel())
            with torch.no_grad():
                net[-1].bias.copy_(p.detach().flatten())
                # unit-variance features then move each weight by ~10% of its SIREN init spread
                net[-1].weight.normal_(0.0, 0.1 * p.detach().std().item() / hidden_features**0.5)
            self.nets[name.replace(".", "_")] = net

    def forward(self, latent: torch.Tensor) -> Generated:
        """``(B, latent_dim)`` -> :class:`Generated` with ``params``."""
        params = {
            name: net(latent).view(latent.shape[0], *self.shapes[name])
            for name, net in zip(self.shapes, self.nets.values(), strict=True)
        }
        return Generated(params, ())


class FilmHypernet(nn.Module):
    """Per-layer scale and shift of a shared SIREN's pre-activations from one MLP of the latent.

    Args:
        latent_dim: latent size.
        siren: the shared SIREN (its sine layers set the number and width of modulations).
        hidden_features: MLP width.
        hidden_layers: MLP hidden-to-hidden layers.
    """

    def __init__(self, latent_dim: int, siren: Siren, hidden_features: int = 256, hidden_layers: int = 1) -> None:
        super().__init__()
        self.num_layers = len(siren.net)
        self.width = siren.net[0].linear.out_features
        self.net = _mlp(latent_dim, hidden_features, hidden_layers, 2 * self.width * self.num_layers)
        with torch.no_grad():
            self.net[-1].bias.zero_()

    def forward(self, latent: torch.Tensor) -> Generated:
        """``(B, latent_dim)`` -> :class:`Generated` with ``modulations``."""
        out = self.net(latent)  # (B, L * 2F)
        return Generated({}, tuple(out.chunk(self.num_layers, dim=-1)))


HYPERNETS = ("full", "film")


def build_hypernet(name: str, latent_dim: int, siren: Siren, hidden_features: int, hidden_layers: int) -> nn.Module:
    """The hypernetwork called ``name`` (one of :data:`HYPERNETS`)."""
    if name == "full":
        return FullHypernet(latent_dim, siren, hidden_features, hidden_layers)
    if name == "film":
        return FilmHypernet(latent_dim, siren, hidden_features, hidden_layers)
    raise ValueError(f"unknown hypernet {name!r}; choose one of {', '.join(HYPERNETS)}")
