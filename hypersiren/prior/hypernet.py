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
- ``grid`` (ours, for a grid of local codes; Spatial Functa, Bauer et al. 2023; LIIF, Chen et al. 2021): the
  code at a coordinate is interpolated bilinearly from the grid and mapped by one linear layer to a shift
  (and optionally a scale) of every sine layer of a shared SIREN, added to the global code's FiLM. The map
  is affine, so interpolating codes equals interpolating modulations: the rendered function is continuous
  and exists at any resolution.

Each takes a :class:`~hypersiren.prior.latent.Latent` (or a bare ``(B, latent_dim)`` code) and returns a
:class:`~hypersiren.prior.latent.Generated` whose tensors all have a leading batch dimension; its ``render``
evaluates the generated SIRENs at coordinates with batched matmuls (:meth:`hypersiren.Siren.forward`).
"""

from __future__ import annotations

import torch
from torch import nn

from hypersiren.prior.fused_render import render_per_code
from hypersiren.prior.latent import Generated, Latent, interpolate_grid
from hypersiren.siren.network import Siren


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

    def forward(self, latent: Latent | torch.Tensor) -> Generated:
        """``(B, latent_dim)`` code -> :class:`Generated` with ``params``."""
        code = _code(latent)
        params = {
            name: net(code).view(code.shape[0], *self.shapes[name])
            for name, net in zip(self.shapes, self.nets.values(), strict=True)
        }
        return Generated(params, ())

    def render(self, generated: Generated, siren: Siren, coords: torch.Tensor, *_: object) -> torch.Tensor:
        """``(N, 2)`` coordinates -> ``(B, N, out_features)`` (:meth:`GridHypernet.render`'s options: no code grid)."""
        return siren(coords, params=generated.params)


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

    def forward(self, latent: Latent | torch.Tensor) -> Generated:
        """``(B, latent_dim)`` code -> :class:`Generated` with ``modulations``."""
        out = self.net(_code(latent))  # (B, L * 2F)
        return Generated({}, tuple(out.chunk(self.num_layers, dim=-1)))

    def render(self, generated: Generated, siren: Siren, coords: torch.Tensor, *_: object) -> torch.Tensor:
        """``(N, 2)`` coordinates -> ``(B, N, out_features)`` (:meth:`GridHypernet.render`'s options: no code grid)."""
        return siren(coords, modulations=_film(generated.modulations))


class GridHypernet(nn.Module):
    """Local codes -> per-coordinate shift (and scale) of a shared SIREN's sine layers, plus the global FiLM.

    Args:
        latent_dim: global code size.
        grid_dim: local code size D.
        siren: the shared SIREN.
        hidden_features: width of the global code's FiLM MLP.
        hidden_layers: its hidden-to-hidden layers.
        scale: the local code also scales each pre-activation (else shifts only).
        use_global: add the global code's FiLM modulations (else the global code is unused).
        align_corners: where the codes sit among the SIREN's coordinates (:func:`interpolate_grid`).
        cell: a rendering's scale also shifts every sine layer (LIIF's cell decoding, Chen et al. 2021): a linear
            map of ``log2`` (model pixel / rendered pixel), zero at the model's own scale and zero-initialised, so
            that one SIREN renders a pixel's average at each scale it was trained on.
    """

    def __init__(
        self,
        latent_dim: int,
        grid_dim: int,
        siren: Siren,
        hidden_features: int = 256,
        hidden_layers: int = 1,
        scale: bool = False,
        use_global: bool = True,
        align_corners: bool = True,
        cell: bool = False,
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.num_layers = len(siren.net)
        self.width = siren.net[0].linear.out_features
        self.scale = scale
        self.film = FilmHypernet(latent_dim, siren, hidden_features, hidden_layers) if use_global else None
        self.local = nn.Linear(grid_dim, (2 if scale else 1) * self.width * self.num_layers)
        with torch.no_grad():  # as the FiLM MLP's last layer: start near the shared SIREN
            nn.init.kaiming_normal_(self.local.weight, nonlinearity="relu", mode="fan_in")
            self.local.weight.div_(100.0)
            self.local.bias.zero_()
        self.cell = nn.Linear(1, self.width * self.num_layers, bias=False) if cell else None  # absent by default:
        if self.cell is not None:  # older checkpoints load strictly
            nn.init.zeros_(self.cell.weight)

    def forward(self, latent: Latent) -> Generated:
        """:class:`Latent` with a grid -> :class:`Generated` with the global modulations and the grid."""
        if not isinstance(latent, Latent) or latent.grid is None:
            raise ValueError("the grid hypernetwork needs a Latent with a grid of local codes (encoder='grid')")
        modulations = self.film(latent.code).modulations if self.film is not None else ()
        return Generated({}, modulations, latent.grid)

    def render(
        self,
        generated: Generated,
        siren: Siren,
        coords: torch.Tensor,
        on_codes: bool | None = None,
        scales: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(N, 2)`` coordinates -> ``(B, N, out_features)``.

        Args:
            on_codes: see :func:`interpolate_grid`.
            scales: ``(N,)``, ``(1,)`` or ``(B, N)`` each point's rendering scale, ``log2`` (model pixel / rendered
                pixel), for the cell shift (ignored without one; None: the model's own scale, 0).
        """
        if self._fused(generated, coords, scales):  # inference: the shifts per code (the same function)
            return render_per_code(self, generated, siren, coords, on_codes, scales)
        local = self.local(interpolate_grid(generated.grid, coords, self.align_corners, on_codes))  # (B, N, k L F)
        local = local.chunk(self.num_layers, dim=-1)  # per layer (B, N, k * F)
        cells = [None] * self.num_layers
        if self.cell is not None and scales is not None:
            cells = self.cell(scales.to(local[0].dtype)[..., None]).chunk(self.num_layers, dim=-1)  # (N | B N, F)
        glob = [(s.unsqueeze(1), t.unsqueeze(1)) for s, t in _film(generated.modulations)] or None
        modulations = []
        for i, m in enumerate(local):
            scale, shift = m.chunk(2, dim=-1) if self.scale else (None, m)
            if scale is not None:
                scale = 1.0 + scale
            if glob is not None:
                g_scale, g_shift = glob[i]
                scale = g_scale if scale is None else scale + g_scale - 1.0
                shift = shift + g_shift
            if cells[i] is not None:
                shift = shift + cells[i]
            modulations.append((scale, shift))
        return siren(coords, modulations=modulations)

    def _fused(self, generated: Generated, coords: torch.Tensor, scales: torch.Tensor | None) -> bool:
        """Whether :func:`~hypersiren.prior.fused_render.render_per_code` renders: no autograd history wanted, no
        autocast (its dtype decides the kernels), shifts only, one scale for every point."""
        if torch.is_grad_enabled() or self.scale or torch.is_autocast_enabled(coords.device.type):
            return False
        return scales is None or scales.numel() == 1


def _code(latent: Latent | torch.Tensor) -> torch.Tensor:
    return latent.code if isinstance(latent, Latent) else latent


def _film(modulations: tuple[torch.Tensor, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer ``(B, 2F)`` -> ``(1 + scale, shift)``, each ``(B, F)``."""
    return [(1.0 + scale, shift) for scale, shift in (m.chunk(2, dim=-1) for m in modulations)]


HYPERNETS = ("full", "film", "grid")


def build_hypernet(
    name: str,
    *,
    latent_dim: int,
    siren: Siren,
    hidden_features: int,
    hidden_layers: int,
    grid_dim: int = 64,
    grid_scale: bool = False,
    grid_global: bool = True,
    align_corners: bool = True,
    cell: bool = False,
) -> nn.Module:
    """The hypernetwork called ``name`` (one of :data:`HYPERNETS`); ``grid_*``, ``align_corners`` and ``cell``
    configure ``grid`` only."""
    if name == "full":
        return FullHypernet(latent_dim, siren, hidden_features, hidden_layers)
    if name == "film":
        return FilmHypernet(latent_dim, siren, hidden_features, hidden_layers)
    if name == "grid":
        return GridHypernet(
            latent_dim,
            grid_dim,
            siren,
            hidden_features=hidden_features,
            hidden_layers=hidden_layers,
            scale=grid_scale,
            use_global=grid_global,
            align_corners=align_corners,
            cell=cell,
        )
    raise ValueError(f"unknown hypernet {name!r}; choose one of {', '.join(HYPERNETS)}")
