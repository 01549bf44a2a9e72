"""The latent grid: interpolation exact at grid points, linear in between, continuous; Latent/Generated helpers."""

from __future__ import annotations

import pytest
import torch

from hypersiren.prior.latent import Generated, Latent, interpolate_grid
from hypersiren.siren import grid


def test_interpolation_is_exact_at_grid_points():
    codes = torch.randn(2, 5, 4, 6)
    points = interpolate_grid(codes, grid(4, 6))  # (B, 24, D): the lattice itself
    torch.testing.assert_close(points, codes.flatten(2).transpose(1, 2), rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [16, 32, 64, 33])
def test_rendering_at_the_grid_own_pixels_is_a_gather(size):
    codes = torch.randn(2, 3, size, size)
    points = interpolate_grid(codes, grid(size, size))  # every point on a code: bit for bit the code
    assert torch.equal(points, codes.flatten(2).transpose(1, 2))
    codes.requires_grad_(True)
    interpolate_grid(codes, grid(size, size)[5:7]).sum().backward()
    assert codes.grad.sum().item() == 2 * 2 * 3 and (codes.grad != 0).sum().item() == 2 * 2 * 3


def test_interpolation_reproduces_a_bilinear_function_between_points():
    # f(y, x) = a + b y + c x + d y x is bilinear, so bilinear interpolation of its samples is exact anywhere
    a, b, c, d = 0.3, -1.2, 0.7, 2.0
    lattice = grid(5, 7)
    f = lambda p: a + b * p[:, 0] + c * p[:, 1] + d * p[:, 0] * p[:, 1]  # noqa: E731
    codes = f(lattice).view(1, 1, 5, 7)
    queries = torch.rand(200, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.testing.assert_close(interpolate_grid(codes, queries)[0, :, 0], f(queries), rtol=0, atol=1e-5)


def test_interpolation_is_continuous_and_clamped():
    codes = torch.randn(1, 3, 8, 8)
    y = torch.linspace(-1, 1, 2001)
    line = torch.stack([y, torch.full_like(y, 0.1234)], dim=1)
    values = interpolate_grid(codes, line)[0]  # (2001, 3)
    # a step of 1e-3 moves a bilinear function by at most (its slope) x 1e-3; slopes are below (range) x 7 / 2
    assert (values[1:] - values[:-1]).abs().max() < 3.5e-3 * codes.abs().max() * 2
    outside = interpolate_grid(codes, torch.tensor([[-3.0, 5.0]]))
    torch.testing.assert_close(outside[0, 0], codes[0, :, 0, -1])


def test_one_code_grid_and_bad_shapes():
    codes = torch.randn(2, 4, 1, 1)
    out = interpolate_grid(codes, torch.rand(10, 2) * 2 - 1)
    torch.testing.assert_close(out, codes.flatten(1)[:, None].expand(2, 10, 4))
    with pytest.raises(ValueError, match="coords"):
        interpolate_grid(codes, torch.rand(10, 3))


def test_gradients_reach_the_four_neighbours_only():
    codes = torch.zeros(1, 1, 4, 4, requires_grad=True)
    interpolate_grid(codes, torch.tensor([[0.1, -0.2]])).sum().backward()
    touched = (codes.grad[0, 0] != 0).sum().item()
    assert touched == 4 and codes.grad.sum().item() == pytest.approx(1.0)


def test_latent_and_generated_map_take_tensors():
    latent = Latent(torch.randn(4, 3), torch.randn(4, 2, 5, 5))
    assert [t.shape[0] for t in latent.take(1, 3).tensors()] == [2, 2]
    assert Latent(torch.randn(4, 3)).tensors()[0].shape == (4, 3)
    gen = Generated({"w": torch.randn(4, 2, 2)}, (torch.randn(4, 6),), torch.randn(4, 2, 3, 3))
    assert gen.batch_size == 4 and len(gen.tensors()) == 3
    doubled = gen.map(lambda t: 2 * t)
    for a, b in zip(gen.tensors(), doubled.tensors(), strict=True):
        torch.testing.assert_close(2 * a, b)
    assert gen.take(0, 1).grid.shape == (1, 2, 3, 3)


def test_codes_at_cell_centres_without_align_corners():
    """``align_corners=False``: code i at -1 + (2 i + 1) / g, the border codes held beyond the outer centres."""
    g = torch.randn(1, 2, 4, 4)
    centres = grid(4, 4, align_corners=False)
    torch.testing.assert_close(interpolate_grid(g, centres, align_corners=False), g.flatten(2).transpose(1, 2))
    edge = interpolate_grid(g, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), align_corners=False, on_codes=False)
    torch.testing.assert_close(edge[0], torch.stack([g[0, :, 0, 0], g[0, :, -1, -1]]))
    half = interpolate_grid(g, torch.tensor([[-0.5, -0.5 + 0.25]]), align_corners=False)  # between codes 0|1, at 1
    torch.testing.assert_close(half[0, 0], (g[0, :, 0, 1] + g[0, :, 1, 1]) / 2)
