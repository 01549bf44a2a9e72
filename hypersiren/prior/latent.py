"""What flows between the encoder, the hypernetwork and the SIREN (SIREN Sec. 4.4; Spatial Functa; LIIF).

- :class:`Latent`: the encoder's output: a global code ``(B, latent_dim)`` and, for the grid prior, a grid of
  local codes ``(B, grid_dim, g_h, g_w)``.
- :class:`Generated`: the hypernetwork's output: per-sample SIREN parameters, per-layer modulations, and the
  local code grid that is read at every rendered coordinate.
- :func:`interpolate_grid`: a code grid read at continuous coordinates (bilinear), so a grid prior renders
  at any resolution. Code ``(i, j)`` sits where :func:`hypersiren.siren.coords.grid` puts sample ``(i, j)`` of a
  grid of the code grid's size, in either convention: a grid with one code per pixel puts each code exactly on its
  pixel's coordinate.

Deviation from the official code: its latent is one 256-d vector; the grid is ours (after Spatial Functa,
Bauer et al. 2023, and LIIF, Chen et al. 2021).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch


def _map_tensor(value: torch.Tensor | None, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor | None:
    return None if value is None else fn(value)


class Latent(NamedTuple):
    """An encoder's output.

    Attributes:
        code: ``(B, latent_dim)`` the global code.
        grid: ``(B, grid_dim, g_h, g_w)`` local codes, or None for a single-code prior.
    """

    code: torch.Tensor
    grid: torch.Tensor | None = None

    def tensors(self) -> list[torch.Tensor]:
        """Every latent tensor (for regularisation and test-time optimisation)."""
        return [self.code] + ([self.grid] if self.grid is not None else [])

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Latent:
        """A Latent with ``fn`` applied to every tensor."""
        return Latent(fn(self.code), _map_tensor(self.grid, fn))

    def take(self, start: int, stop: int) -> Latent:
        """Samples ``start:stop`` of the batch."""
        return self.map(lambda t: t[start:stop])


class Generated(NamedTuple):
    """What a hypernetwork produces for a batch; every tensor has a leading batch dimension.

    Attributes:
        params: per-sample SIREN parameters by name, each ``(B, *shape)`` (empty unless ``full``).
        modulations: per sine layer, ``(B, 2 * hidden_features)`` = (scale, shift) from the global code
            (empty for ``full``, and for a grid prior without a global code).
        grid: ``(B, grid_dim, g_h, g_w)`` local codes, mapped to per-coordinate shifts when rendered (grid
            prior only).
    """

    params: dict[str, torch.Tensor]
    modulations: tuple[torch.Tensor, ...]
    grid: torch.Tensor | None = None

    def tensors(self) -> list[torch.Tensor]:
        """Every generated tensor, for regularisation and test-time optimisation."""
        return list(self.params.values()) + list(self.modulations) + ([self.grid] if self.grid is not None else [])

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Generated:
        """A Generated with ``fn`` applied to every tensor (in the order of :meth:`tensors`)."""
        params = {name: fn(value) for name, value in self.params.items()}
        return Generated(params, tuple(fn(m) for m in self.modulations), _map_tensor(self.grid, fn))

    def take(self, start: int, stop: int) -> Generated:
        """Samples ``start:stop`` of the batch."""
        return self.map(lambda t: t[start:stop])

    @property
    def batch_size(self) -> int:
        """B."""
        return self.tensors()[0].shape[0]


def interpolate_grid(
    grid: torch.Tensor, coords: torch.Tensor, align_corners: bool = True, on_codes: bool | None = None
) -> torch.Tensor:
    """Bilinear interpolation of a code grid at coordinates shared by the batch.

    With ``align_corners`` code ``(i, j)`` sits at ``(-1 + 2 i / (g_h - 1), -1 + 2 j / (g_w - 1))`` (an axis of
    one code at 0); without, at its cell's centre ``(-1 + (2 i + 1) / g_h, -1 + (2 j + 1) / g_w)`` (outside the
    outermost centres the border codes hold, as ``grid_sample``'s ``padding_mode="border"``). The result is exact
    at the codes and continuous everywhere; coordinates outside [-1, 1] are clamped. When every point lies on a
    code (within 1e-4 of a lattice step), as when rendering a stride-1 grid at its own resolution, the codes are
    gathered: exact, and the cheapest path of training and evaluation.

    Args:
        grid: ``(B, D, g_h, g_w)``.
        coords: ``(N, 2)`` in (y, x) order.
        align_corners: where the codes sit (see :mod:`hypersiren.siren.coords`).
        on_codes: whether every point lies on a code: None finds out (which waits for the device), True gathers
            and False blends without looking.

    Returns:
        ``(B, N, D)``.
    """
    if grid.dim() != 4 or coords.dim() != 2 or coords.shape[-1] != 2:
        raise ValueError(
            f"expected a grid (B, D, g_h, g_w) and coords (N, 2), got {tuple(grid.shape)} and {tuple(coords.shape)}"
        )
    b, d = grid.shape[:2]
    index, weight = grid_corners(coords, grid.shape[-2:], align_corners, on_codes)  # (N, k), (N, k): k = 1 or 4
    flat = grid.flatten(2).transpose(1, 2)  # (B, G, D)
    if index.shape[1] == 1:  # every point on a code: the code itself, not a blend whose weights are 1 +- 1e-7
        return flat[:, index[:, 0]]  # (B, N, D)
    corners = flat[:, index.flatten()].view(b, -1, 4, d)  # (B, N, 4, D)
    return torch.einsum("bnkd,nk->bnd", corners, weight.to(grid.dtype))


def grid_corners(
    coords: torch.Tensor, size: tuple[int, int], align_corners: bool = True, on_codes: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which codes of a ``g_h x g_w`` grid each point blends, and how (:func:`interpolate_grid`'s weights).

    Args:
        coords: ``(N, 2)`` in (y, x) order.
        size: ``(g_h, g_w)``.
        align_corners, on_codes: as for :func:`interpolate_grid`.

    Returns:
        ``(N, k)`` flat code indices (row-major) and ``(N, k)`` float32 weights summing to 1: ``k = 4`` (the cell's
        corners, top-left first), or ``k = 1`` (weight 1) when every point lies on a code.
    """
    gh, gw = size
    unit = (coords.float().clamp(-1, 1) + 1) / 2  # (N, 2) in [0, 1]
    # per axis with Python numbers: a tensor of the sizes would be a host-to-device copy (a wait) in every render
    if align_corners:
        pos = torch.stack([unit[:, 0] * (gh - 1), unit[:, 1] * (gw - 1)], 1)  # (N, 2) continuous lattice index
    else:
        pos = torch.stack([(unit[:, 0] * gh - 0.5).clamp(0, gh - 1), (unit[:, 1] * gw - 0.5).clamp(0, gw - 1)], 1)
    nearest = pos.round()
    if on_codes is None:
        on_codes = bool(((pos - nearest).abs() < 1e-4).all())
    if on_codes:
        on = nearest.long()
        index = (on[:, 0] * gw + on[:, 1])[:, None]
        return index, torch.ones_like(pos[:, :1])
    floor = pos.floor()
    lo = torch.stack([floor[:, 0].clamp(max=max(gh - 2, 0)), floor[:, 1].clamp(max=max(gw - 2, 0))], 1).long()
    frac = pos - lo  # (N, 2) in [0, 1]: (N, 2) the cell's top-left code and the position in the cell
    hi = torch.stack([(lo[:, 0] + 1).clamp(max=gh - 1), (lo[:, 1] + 1).clamp(max=gw - 1)], 1)
    fy, fx = frac[:, 0:1], frac[:, 1:2]
    index = torch.stack(
        [lo[:, 0] * gw + lo[:, 1], lo[:, 0] * gw + hi[:, 1], hi[:, 0] * gw + lo[:, 1], hi[:, 0] * gw + hi[:, 1]], dim=1
    )  # (N, 4)
    weight = torch.cat([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], dim=1)  # (N, 4)
    return index, weight
