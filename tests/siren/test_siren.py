"""SIREN initialisation and batched per-sample evaluation (on the test device: HYPERSIREN_TEST_DEVICE)."""

from __future__ import annotations

import math

import pytest
import torch

from hypersiren import Siren
from hypersiren.siren import grid


def test_parameter_count_matches_paper():
    assert sum(p.numel() for p in Siren(2, 256, 3, 1).parameters()) == 198_401
    assert sum(p.numel() for p in Siren(2, 256, 3, 3).parameters()) == 198_915


@pytest.mark.parametrize("omega", [30.0, 3000.0])
def test_init_bounds(omega):
    torch.manual_seed(0)
    m = Siren(2, 64, 2, 3, first_omega_0=omega, hidden_omega_0=30.0)
    first = m.net[0].linear.weight
    assert first.abs().max() <= 1 / 2 and first.abs().max() > 0.45, "first layer ~ U(-1/n_in, 1/n_in)"
    bound = math.sqrt(6 / 64) / 30
    for w in [m.net[1].linear.weight, m.net[2].linear.weight, m.last.weight]:
        assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound, "hidden ~ U(-sqrt(6/n)/w0, +)"
    # nn.Linear default bias U(-1/sqrt(n_in), +)
    assert m.net[1].linear.bias.abs().max() <= 1 / math.sqrt(64)


def test_semantics_sin_of_omega_times_affine(device):
    torch.manual_seed(0)
    m = Siren(2, 16, 1, 1, first_omega_0=30.0, hidden_omega_0=20.0).to(device)
    x = (torch.rand(5, 2) * 2 - 1).to(device)
    h = torch.sin(30.0 * (x @ m.net[0].linear.weight.T + m.net[0].linear.bias))
    h = torch.sin(20.0 * (h @ m.net[1].linear.weight.T + m.net[1].linear.bias))
    expected = h @ m.last.weight.T + m.last.bias
    torch.testing.assert_close(m(x), expected, rtol=1e-5, atol=1e-5)


def test_batched_per_sample_params_equal_module_forward(device):
    torch.manual_seed(0)
    models = [Siren(2, 32, 2, 3).to(device) for _ in range(4)]
    coords = grid(6, 7, device=device)
    names = [n for n, _ in models[0].named_parameters()]
    params = {n: torch.stack([dict(m.named_parameters())[n] for m in models]) for n in names}
    batched = models[0](coords, params)  # (B, N, C)
    assert batched.shape == (4, 42, 3)
    for i, m in enumerate(models):
        torch.testing.assert_close(batched[i], m(coords), rtol=1e-5, atol=1e-5)
    # per-sample coordinates too
    coords_b = (torch.rand(4, 10, 2) * 2 - 1).to(device)
    batched = models[0](coords_b, params)
    for i, m in enumerate(models):
        torch.testing.assert_close(batched[i], m(coords_b[i]), rtol=1e-5, atol=1e-5)


def test_modulations_identity_and_shift(device):
    torch.manual_seed(0)
    m = Siren(2, 16, 2, 1).to(device)
    coords = grid(5, 5, device=device)
    ones, zeros = torch.ones(3, 16, device=device), torch.zeros(3, 16, device=device)
    out = m(coords, modulations=[(ones, zeros)] * 3)
    assert out.shape == (3, 25, 1)
    torch.testing.assert_close(out[1], m(coords), rtol=1e-5, atol=1e-5)
    shifted = m(coords, modulations=[(None, torch.full((3, 16), 0.1, device=device))] + [(None, None)] * 2)
    assert not torch.allclose(shifted[0], m(coords))


def test_fused_training_path_matches_plain_autograd(device):
    torch.manual_seed(0)
    m = Siren(2, 32, 2, 3).double().to(device)
    coords = (torch.rand(50, 2, dtype=torch.float64) * 2 - 1).to(device)
    target = torch.rand(50, 3, dtype=torch.float64).to(device)
    assert m._fast_path_ok(coords, None, None), "fitting own parameters takes the fused path"
    ((m(coords) - target) ** 2).mean().backward()
    fused = {n: p.grad.clone() for n, p in m.named_parameters()}
    m.zero_grad()
    params = dict(m.named_parameters())  # same tensors, but passed explicitly: the plain path
    assert not m._fast_path_ok(coords, params, None)
    ((m(coords, params) - target) ** 2).mean().backward()
    for n, p in m.named_parameters():
        torch.testing.assert_close(fused[n], p.grad, msg=f"gradient of {n}")
    with torch.no_grad():
        torch.testing.assert_close(m(coords), m(coords, params))


def test_coordinates_with_grad_stay_twice_differentiable(device):
    torch.manual_seed(0)
    m = Siren(2, 16, 1, 1).to(device)
    coords = (torch.rand(20, 2) * 2 - 1).to(device).requires_grad_(True)
    assert not m._fast_path_ok(coords, None, None)
    out = m(coords)
    (grad,) = torch.autograd.grad(out.sum(), coords, create_graph=True)
    grad.pow(2).sum().backward()  # a loss on derivatives reaches the weights
    assert m.net[0].linear.weight.grad is not None and m.net[0].linear.weight.grad.abs().sum() > 0
