"""Autograd and finite-difference operators against closed forms."""

from __future__ import annotations

import pytest
import torch

from hypersiren import Siren
from hypersiren.siren import grid, operators


def _field(x: torch.Tensor) -> torch.Tensor:
    """f(y, x) = sin(2y) cos(3x) + y^2 x, shape (N, 1)."""
    y, xx = x[..., 0], x[..., 1]
    return (torch.sin(2 * y) * torch.cos(3 * xx) + y**2 * xx)[..., None]


def test_autograd_gradient_and_laplacian_closed_form():
    x = (torch.rand(50, 2, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    y, xx = x[:, 0].detach(), x[:, 1].detach()
    f = _field(x)
    grad = operators.gradient(f, x)
    expected = torch.stack(
        [2 * torch.cos(2 * y) * torch.cos(3 * xx) + 2 * y * xx, -3 * torch.sin(2 * y) * torch.sin(3 * xx) + y**2], -1
    )
    torch.testing.assert_close(grad, expected, msg="gradient != closed form")
    lap = operators.laplacian(f, x)
    expected_lap = -13 * torch.sin(2 * y) * torch.cos(3 * xx) + 2 * xx
    torch.testing.assert_close(lap[:, 0], expected_lap, msg="laplacian != closed form")


def test_divergence_and_jacobian():
    x = (torch.rand(20, 3, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    v = torch.stack([x[:, 0] ** 2, x[:, 0] * x[:, 1], torch.sin(x[:, 2])], -1)  # div = 2a + a + cos(c)
    a, c = x[:, 0].detach(), x[:, 2].detach()
    torch.testing.assert_close(operators.divergence(v, x)[:, 0], 3 * a + torch.cos(c))
    jac = operators.jacobian(v, x)
    assert jac.shape == (20, 3, 3)
    torch.testing.assert_close(jac[:, 1, 1], a)
    with pytest.raises(ValueError, match="scalar field"):
        operators.gradient(v, x)


def test_siren_laplacian_matches_finite_differences_of_the_network():
    torch.manual_seed(0)
    model = Siren(2, 32, 2, 1, first_omega_0=3.0, hidden_omega_0=3.0).double()
    x = (torch.rand(10, 2, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    lap = operators.laplacian(model(x), x).detach()
    h = 1e-3
    e = torch.eye(2, dtype=torch.float64) * h
    with torch.no_grad():
        fd = sum(model(x + e[i]) - 2 * model(x) + model(x - e[i]) for i in range(2)) / h**2
    torch.testing.assert_close(lap, fd, rtol=1e-4, atol=1e-4)


def test_image_operators_in_coordinate_units():
    h, w = 17, 21
    coords = grid(h, w, dtype=torch.float64).reshape(h, w, 2)
    y, x = coords[..., 0], coords[..., 1]
    img = (y**2 + 3 * x + x**2)[None, None]  # (1, 1, H, W)
    g = operators.image_gradient(img)
    assert g.shape == (1, 1, 2, h, w)
    inner = (slice(1, -1), slice(1, -1))
    torch.testing.assert_close(g[0, 0, 0][inner], (2 * y)[inner], msg="d/dy, central differences exact on quadratics")
    torch.testing.assert_close(g[0, 0, 1][inner], (3 + 2 * x)[inner], msg="d/dx")
    lap = operators.image_laplacian(img)
    torch.testing.assert_close(
        lap[0, 0][inner], torch.full((h - 2, w - 2), 4.0, dtype=torch.float64), msg="laplacian = 4"
    )
