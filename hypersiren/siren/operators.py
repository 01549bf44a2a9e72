"""Differential operators (paper Sec. 3.1 and 4.1; official ``diff_operators.py``).

Autograd operators differentiate any model's output with respect to its input coordinates. They assume
each output point depends only on its own coordinate (true for every coordinate MLP here), so one
backward pass with unit output gradients gives all per-point derivatives at once. They build a graph
(``create_graph=True``) so that losses on derivatives can be optimised (Poisson fitting).

Finite-difference operators work on images ``(B, C, H, W)`` in coordinate units: the grid of
:func:`hypersiren.siren.coords.grid` spans [-1, 1], so pixel spacing is ``2 / (side - 1)``. This makes them
directly comparable with the autograd derivatives of a fitted network. (The official code supervised
with ``10 x`` Sobel and ``1e4 x`` Laplace filters in pixel units instead; only the scale differs.)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from hypersiren.siren.coords import image_to_points


def gradient(y: torch.Tensor, x: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """Gradient of a scalar field.

    Args:
        y: ``(..., 1)`` outputs computed from ``x``.
        x: ``(..., D)`` coordinates with ``requires_grad``.

    Returns:
        ``(..., D)``.
    """
    if y.shape[-1] != 1:
        raise ValueError(f"gradient needs a scalar field (..., 1), got {tuple(y.shape)}; use jacobian")
    return torch.autograd.grad(y, x, torch.ones_like(y), create_graph=create_graph)[0]


def jacobian(y: torch.Tensor, x: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """Per-point Jacobian of a vector field: ``(..., C)`` by ``(..., D)`` -> ``(..., C, D)``."""
    rows = [gradient(y[..., c : c + 1], x, create_graph) for c in range(y.shape[-1])]
    return torch.stack(rows, dim=-2)


def divergence(v: torch.Tensor, x: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """Divergence of a vector field: ``(..., D)`` by ``(..., D)`` -> ``(..., 1)``."""
    if v.shape[-1] != x.shape[-1]:
        raise ValueError(f"divergence needs as many components as coordinates, got {v.shape[-1]} and {x.shape[-1]}")
    div = torch.zeros_like(v[..., :1])
    d = v.shape[-1]
    for i in range(d):
        retain = create_graph or i < d - 1  # the graph is shared by every component
        ones = torch.ones_like(v[..., i])
        grad = torch.autograd.grad(v[..., i], x, ones, retain_graph=retain, create_graph=create_graph)[0]
        div = div + grad[..., i : i + 1]
    return div


def laplacian(y: torch.Tensor, x: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """Laplacian of a scalar field: ``(..., 1)`` by ``(..., D)`` -> ``(..., 1)``."""
    return divergence(gradient(y, x, create_graph=True), x, create_graph)


def spacing(side: int) -> float:
    """The step between neighbouring coordinates of :func:`hypersiren.siren.coords.grid` along ``side`` pixels."""
    return 2.0 / (side - 1)


def image_gradient(images: torch.Tensor) -> torch.Tensor:
    """Central differences (one-sided at the border) in coordinate units.

    Args:
        images: ``(B, C, H, W)``.

    Returns:
        ``(B, C, 2, H, W)``: d/dy then d/dx, matching the (y, x) coordinate order.
    """
    _, _, h, w = images.shape
    dy, dx = torch.gradient(images, spacing=(spacing(h), spacing(w)), dim=(-2, -1))
    return torch.stack([dy, dx], dim=2)


def image_laplacian(images: torch.Tensor) -> torch.Tensor:
    """Five-point Laplacian in coordinate units, edges replicated.

    Args:
        images: ``(B, C, H, W)``.

    Returns:
        ``(B, C, H, W)``.
    """
    _, _, h, w = images.shape
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    d2y = (padded[..., 2:, 1:-1] - 2 * images + padded[..., :-2, 1:-1]) / spacing(h) ** 2
    d2x = (padded[..., 1:-1, 2:] - 2 * images + padded[..., 1:-1, :-2]) / spacing(w) ** 2
    return d2y + d2x


def poisson_target(image: torch.Tensor, supervise: str) -> torch.Tensor:
    """A Poisson problem's supervision (paper Sec. 4.1): the finite-difference derivatives of a gray image.

    Args:
        image: ``(1, H, W)`` (or ``(H, W)``).
        supervise: ``gradient`` or ``laplacian``.

    Returns:
        ``(H W, 2)`` gradients or ``(H W, 1)`` Laplacians, in coordinate units and grid order.
    """
    img = image.reshape(1, 1, *image.shape[-2:])  # (1, 1, H, W)
    if supervise == "gradient":
        return image_gradient(img)[0, 0].flatten(1).T  # (2, H, W) -> (N, 2)
    if supervise == "laplacian":
        return image_to_points(image_laplacian(img))[0]
    raise ValueError(f"supervise must be gradient or laplacian, got {supervise!r}")


def gradient_norm_and_laplacian(
    model: nn.Module, coords: torch.Tensor, chunk: int = 16384
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fitted network's gradient magnitude and Laplacian ``(N,)`` of its channel mean, by autograd, in chunks."""
    grads, laps = [], []
    for c in coords.split(chunk):
        c = c.detach().requires_grad_(True)
        y = model(c).mean(-1, keepdim=True)
        g = gradient(y, c)
        laps.append(divergence(g, c, create_graph=False).detach()[:, 0])
        grads.append(g.detach().norm(dim=-1))
    return torch.cat(grads), torch.cat(laps)
