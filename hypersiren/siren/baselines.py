"""The paper's same-size baselines (Sec. 4.1, Fig. 1): ReLU, tanh and ReLU with positional encoding.

Each baseline has the SIREN's width and depth: ``hidden_layers + 1`` activated layers of
``hidden_features``, then a linear output layer. Initialisation follows the official ``FCBlock``:
Kaiming-normal (fan_in) for ReLU, Xavier-normal for tanh, biases kept at the ``nn.Linear`` default.

The positional encoding is the official ``PosEncodingNeRF``: ``[x, sin(2^i pi x_j), cos(2^i pi x_j)]``
for ``i < L`` and every coordinate ``j``, with the Nyquist rule ``L = floor(log2(N / 4))`` for ``N``
samples along the longest side (6 frequencies for 256 pixels).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hypersiren.siren.network import Siren

ARCHS = ("siren", "relu", "tanh", "relu_pe")


def nyquist_frequencies(samples: int) -> int:
    """``L = floor(log2(samples / 4))`` frequencies for a side of ``samples`` points (at least 1)."""
    return max(1, math.floor(math.log2(max(samples, 1) / 4)))


class PositionalEncoding(nn.Module):
    """``(..., D)`` -> ``(..., D * (1 + 2 L))``: the coordinates, then sin/cos at ``2^i pi`` per axis.

    Args:
        in_features: coordinate dimension ``D``.
        num_frequencies: ``L``.
    """

    def __init__(self, in_features: int, num_frequencies: int) -> None:
        super().__init__()
        self.in_features, self.num_frequencies = in_features, num_frequencies
        self.out_features = in_features * (1 + 2 * num_frequencies)
        self.register_buffer("freqs", (2.0 ** torch.arange(num_frequencies)) * math.pi, persistent=False)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(..., D (1 + 2 L))``, ordered as the official code (frequency-major)."""
        angles = coords.unsqueeze(-2) * self.freqs.unsqueeze(-1)  # (..., L, D)
        pairs = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)  # (..., L, D, 2)
        return torch.cat([coords, pairs.flatten(-3)], dim=-1)


class MLP(nn.Module):
    """A plain MLP with the SIREN's shape and the official ``FCBlock`` initialisation.

    Args:
        in_features: input width (after any encoding).
        hidden_features: width of every hidden layer.
        hidden_layers: number of hidden-to-hidden layers.
        out_features: output width.
        activation: ``"relu"`` or ``"tanh"``.
        encoding: optional module applied to the coordinates first.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        hidden_layers: int,
        out_features: int,
        activation: str = "relu",
        encoding: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ValueError(f"unknown activation {activation!r}: expected relu or tanh")
        self.encoding = encoding if encoding is not None else nn.Identity()
        act = nn.ReLU if activation == "relu" else nn.Tanh
        widths = [in_features] + [hidden_features] * (hidden_layers + 1)
        layers: list[nn.Module] = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(n_in, n_out), act()]
        layers.append(nn.Linear(hidden_features, out_features))
        self.net = nn.Sequential(*layers)
        with torch.no_grad():
            for m in self.net:
                if isinstance(m, nn.Linear):
                    if activation == "relu":
                        nn.init.kaiming_normal_(m.weight, a=0.0, nonlinearity="relu", mode="fan_in")
                    else:
                        nn.init.xavier_normal_(m.weight)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """``(..., in_features)`` coordinates -> ``(..., out_features)``."""
        return self.net(self.encoding(coords))


def make_model(
    arch: str,
    in_features: int,
    hidden_features: int,
    hidden_layers: int,
    out_features: int,
    *,
    first_omega_0: float = 30.0,
    hidden_omega_0: float = 30.0,
    num_frequencies: int | None = None,
    samples: int | None = None,
) -> nn.Module:
    """Build a SIREN or a same-size baseline by name.

    Args:
        arch: one of ``siren``, ``relu``, ``tanh``, ``relu_pe``.
        first_omega_0: SIREN only.
        hidden_omega_0: SIREN only.
        num_frequencies: ``relu_pe`` only; default from ``samples`` by the Nyquist rule.
        samples: ``relu_pe`` only: points along the signal's longest side (default 256).

    Raises:
        ValueError: for an unknown ``arch``.
    """
    if arch == "siren":
        return Siren(in_features, hidden_features, hidden_layers, out_features, first_omega_0, hidden_omega_0)
    if arch in ("relu", "tanh"):
        return MLP(in_features, hidden_features, hidden_layers, out_features, activation=arch)
    if arch == "relu_pe":
        frequencies = num_frequencies if num_frequencies is not None else nyquist_frequencies(samples or 256)
        encoding = PositionalEncoding(in_features, frequencies)
        return MLP(encoding.out_features, hidden_features, hidden_layers, out_features, "relu", encoding)
    raise ValueError(f"unknown architecture {arch!r}: choose from {', '.join(ARCHS)}")
