"""The fused renderer (shifts per code, interpolated; bias, FiLM and cell folded in; sine in place) equals the
per-point path the training differentiates: at random points, on the codes, with and without the cell or the
global code, whole and in chunks; and only inference takes it."""

from __future__ import annotations

import pytest
import torch

from hypersiren import HyperSiren, HyperSirenConfig
from hypersiren.prior import fused_render
from hypersiren.prior.fused_render import render_per_code
from hypersiren.siren import grid


def model(**overrides) -> HyperSiren:
    torch.manual_seed(0)
    config = HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16, **overrides)
    m = HyperSiren(config).eval()
    with torch.no_grad():  # trained-looking weights: every modulation matters
        m.hypernet.local.weight.normal_(0, 0.3)
        if m.hypernet.cell is not None:
            m.hypernet.cell.weight.normal_(0, 0.5)
        if m.hypernet.film is not None:
            m.hypernet.film.net[-1].weight.normal_(0, 0.05)
    return m


def generated(m: HyperSiren):
    g = torch.Generator().manual_seed(1)
    images = torch.rand(3, 3, 16, 16, generator=g) * 2 - 1
    observed = torch.rand(3, 1, 16, 16, generator=g) < 0.5
    with torch.no_grad():
        return m.generate(m.encode(images, observed))


@pytest.mark.parametrize("overrides", [{}, {"cell_input": True}, {"grid_global": False}, {"coordinates": "corners"}])
@pytest.mark.parametrize("where", ["random", "codes", "twice"])
@pytest.mark.parametrize("fold", [True, False], ids=["per-image-weights", "shared-weight"])
def test_per_code_shifts_equal_per_point_shifts(overrides, where, fold, monkeypatch):
    """Both ways of applying the global FiLM scale: folded into each image's weight (a few images) or multiplying
    the shared weight's product (a batch whose weights would not fit in cache)."""
    monkeypatch.setattr(fused_render, "FOLD_BYTES", 1 << 40 if fold else 0)
    m = model(**overrides)
    gen = generated(m)
    coords = {
        "random": torch.rand(300, 2, generator=torch.Generator().manual_seed(2)) * 2.2 - 1.1,
        "codes": m.pixel_coords(16, 16),
        "twice": m.pixel_coords(32, 32),
    }[where]
    scale = torch.full((1,), 1.0 if where == "twice" else 0.0)
    with torch.enable_grad():
        per_point = m.hypernet.render(gen, m.siren, coords, None, scale)  # the training path
    assert per_point.requires_grad, "with autograd the per-point path renders"
    with torch.no_grad():
        fused = m.hypernet.render(gen, m.siren, coords, None, scale)
        chunked = render_per_code(m.hypernet, gen, m.siren, coords, None, scale, chunk=37)
    torch.testing.assert_close(fused, per_point.detach(), rtol=0, atol=2e-5)
    torch.testing.assert_close(chunked, fused, rtol=0, atol=1e-6)


def test_every_inference_call_renders_as_before():
    """render / inpaint / decode_points give what the per-point path gives (within float rounding)."""
    m = model(cell_input=True)
    g = torch.Generator().manual_seed(3)
    images, observed = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1, torch.rand(2, 1, 16, 16, generator=g) < 0.3
    with torch.no_grad():
        fast = m.render(images, observed, 40)
    with torch.enable_grad():
        slow = m(images, observed, size=(40, 40)).images.detach().clamp(-1, 1)
    torch.testing.assert_close(fast, slow, rtol=0, atol=2e-5)
    points = grid(24, 24, align_corners=False)
    with torch.no_grad():
        gen = m.generate(m.encode(images, observed))
        a = m.decode_points(gen, points, scale=0.5)
    with torch.enable_grad():
        b = m.decode_points(gen, points, scale=0.5)
    torch.testing.assert_close(a, b.detach(), rtol=0, atol=2e-5)


def test_per_point_scales_and_scaling_codes_keep_the_per_point_path():
    m = model(cell_input=True)
    gen = generated(m)
    coords = torch.rand(50, 2) * 2 - 1
    assert not m.hypernet._fused(gen, coords, torch.rand(50)), "a scale per point: the per-point path"
    assert model(grid_scale=True).hypernet._fused(gen, coords, None) is False
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not m.hypernet._fused(gen, coords, None), "under autocast the per-point path keeps its dtype"
