"""Same-size baselines: shapes, parameter counts, positional encoding, the factory's errors."""

from __future__ import annotations

import math

import pytest
import torch

from hypersiren import Siren
from hypersiren.siren.baselines import ARCHS, PositionalEncoding, make_model, nyquist_frequencies


@pytest.mark.parametrize("arch", ARCHS)
def test_factory_shapes(arch):
    torch.manual_seed(0)
    model = make_model(arch, 2, 16, 2, 3)
    assert model(torch.rand(7, 2) * 2 - 1).shape == (7, 3), arch
    assert model(torch.rand(4, 7, 2)).shape == (4, 7, 3), arch


def test_same_width_and_depth_as_siren():
    n = {a: sum(p.numel() for p in make_model(a, 2, 256, 3, 1).parameters()) for a in ARCHS}
    assert n["siren"] == n["relu"] == n["tanh"] == 198_401, n
    # relu_pe differs only in its first layer's input width: 2 + 2 * 2 * 6 = 26 inputs
    assert n["relu_pe"] == 198_401 + (26 - 2) * 256, n
    assert isinstance(make_model("siren", 1, 16, 1, 1, first_omega_0=3000.0), Siren)
    assert make_model("siren", 1, 16, 1, 1, first_omega_0=3000.0).omegas == [3000.0, 30.0]


def test_nyquist_rule():
    assert nyquist_frequencies(256) == 6, "the paper: 6 frequencies for a 256-pixel side"
    assert nyquist_frequencies(512) == 7
    assert nyquist_frequencies(128) == 5
    assert nyquist_frequencies(4) == 1, "at least one frequency"


def test_positional_encoding_values():
    enc = PositionalEncoding(2, 3)
    x = torch.tensor([[0.25, -0.5]])
    out = enc(x)
    assert out.shape == (1, 2 * (1 + 2 * 3))
    torch.testing.assert_close(out[0, :2], x[0])
    # official order: for each frequency i, for each axis j: sin, cos
    i, j = 2, 1
    k = 2 + (i * 2 + j) * 2
    torch.testing.assert_close(out[0, k], torch.sin(torch.tensor(2.0**i * math.pi * -0.5)))
    torch.testing.assert_close(out[0, k + 1], torch.cos(torch.tensor(2.0**i * math.pi * -0.5)))


def test_relu_init_is_kaiming():
    torch.manual_seed(0)
    w = make_model("relu", 2, 512, 1, 1).net[2].weight
    assert abs(w.std().item() - math.sqrt(2 / 512)) < 0.05 * math.sqrt(2 / 512), "Kaiming normal, fan_in"


def test_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture 'gelu'"):
        make_model("gelu", 2, 16, 1, 1)
