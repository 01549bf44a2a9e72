"""Metric identities: 20 dB at a 0.1 offset, MSE/LPIPS 0 for identical images, SSIM equal to skimage."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pytest
import torch
from helpers import save_random_alexnet

from hypersiren.metrics import image as metrics
from hypersiren.metrics import perceptual


def images(b=4, c=3, h=32, w=32, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_psnr_of_a_0_1_offset_is_20_db():
    x = images() * 0.9
    assert torch.allclose(metrics.mse(x, x + 0.1), torch.full((4,), 0.01), atol=1e-6)
    assert torch.allclose(metrics.psnr(x, x + 0.1), torch.full((4,), 20.0), atol=1e-4), "0.1 offset on [0, 1]"


def test_identical_images():
    x = images()
    assert torch.equal(metrics.mse(x, x), torch.zeros(4))
    assert torch.isinf(metrics.psnr(x, x)).all()
    assert torch.allclose(metrics.ssim(x, x), torch.ones(4), atol=1e-6)


def test_region_mse_and_empty_region():
    x, y = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    y[:, :, :2] = 0.5  # error only in the top rows
    region = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    region[0, :, :2] = True  # sample 0: the erroneous rows; sample 1: empty
    out = metrics.mse(x, y, region)
    assert out[0].item() == pytest.approx(0.25) and math.isnan(out[1].item())
    assert metrics.mse(x, y).tolist() == pytest.approx([0.125, 0.125])
    assert math.isnan(metrics.psnr(x, y, region)[1].item()) and metrics.psnr(x, y, region)[0] == pytest.approx(
        6.0206, abs=1e-3
    )
    # a loss over the observed pixels (the refinement's): an empty region asks for nothing, with a zero gradient
    pred = x.clone().requires_grad_(True)
    loss = metrics.mse(pred, y, region, empty=0.0)
    assert loss.tolist() == [0.25, 0.0]
    loss.sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[1].eq(0).all() and pred.grad[0, :, 2:].eq(0).all()


def test_psnr_data_range_of_signals_in_minus_one_one():
    a, b = images() * 2 - 1, images(seed=1) * 2 - 1  # [-1, 1]
    on_unit = metrics.psnr((a + 1) / 2, (b + 1) / 2)
    assert torch.allclose(metrics.psnr(a, b, data_range=2.0), on_unit, atol=1e-4), "range 2 = the same on [0, 1]"


def test_to_unit_clips():
    t = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0])
    assert metrics.to_unit(t).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


@pytest.mark.parametrize("size", [32, 16])
def test_ssim_matches_skimage(size):
    from skimage.metrics import structural_similarity

    x = images(2, 3, size, size)
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    ours = metrics.ssim(x, y)
    for i in range(2):
        ref = structural_similarity(
            x[i].double().numpy(),
            y[i].double().numpy(),
            data_range=1.0,
            channel_axis=0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert ours[i].item() == pytest.approx(ref, abs=1e-5), "SSIM must equal scikit-image's"


def test_lpips_random_backbone_identity_and_order():
    torch.manual_seed(0)
    model = perceptual.random_lpips()
    x = images(3)
    same = perceptual.lpips_distance(model, x, x)
    assert same.shape == (3,) and torch.allclose(same, torch.zeros(3), atol=1e-7), "LPIPS(x, x) = 0"
    near = perceptual.lpips_distance(model, x, (x + 0.02).clamp(0, 1))
    far = perceptual.lpips_distance(model, x, (x + 0.3).clamp(0, 1))
    assert (near > 0).all() and (far > near).all(), "a larger perturbation is further"
    grey = perceptual.lpips_distance(model, x[:, :1], x[:, :1])
    assert torch.allclose(grey, torch.zeros(3), atol=1e-7), "one channel is repeated to three"


def test_lpips_unavailable_is_nan_with_warning(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv(perceptual.LPIPS_WEIGHTS_ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="hypersiren.metrics.perceptual"):
        model = perceptual.load_lpips(tmp_path / "nope.npz")
    assert model is None
    assert "LPIPS unavailable" in caplog.text and "nope.npz" in caplog.text
    assert torch.isnan(perceptual.lpips_distance(None, images(2), images(2))).all()


def test_lpips_from_a_saved_backbone(tmp_path):
    torch.manual_seed(0)
    ref = save_random_alexnet(tmp_path / "alex.npz")
    loaded = perceptual.load_lpips(tmp_path / "alex.npz")
    x, y = images(2), images(2, seed=3)
    assert torch.allclose(perceptual.lpips_distance(loaded, x, y), perceptual.lpips_distance(ref, x, y), atol=1e-6)


def test_inpainting_metrics_keys_and_values():
    target = images(2) - 0.5  # model range, away from the clip limits
    observed = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    observed[:, :, :16] = True
    raw = target + torch.where(observed, 0.1, 0.2)  # 0.05 / 0.1 on [0, 1]
    inpainted = torch.where(observed, target, raw)
    out = metrics.inpainting_metrics(raw, inpainted, target, observed, lpips_model=None)
    assert set(out) == {"mse", "psnr", "mse_missing", "psnr_missing", "ssim", "lpips"}
    assert all(v.shape == (2,) for v in out.values())
    assert out["mse"].tolist() == pytest.approx([(0.05**2 + 0.1**2) / 2] * 2, rel=1e-4), "raw output, all pixels"
    assert out["mse_missing"].tolist() == pytest.approx([0.01] * 2, rel=1e-4), "missing pixels only"
    assert out["psnr_missing"].tolist() == pytest.approx([20.0] * 2, abs=1e-3)
    assert torch.isnan(out["lpips"]).all(), "no LPIPS model: NaN"


def test_lpips_loads_the_bundled_backbone_without_network(tmp_path, monkeypatch):
    """No file, no environment variable, no download, no cache: the package's own AlexNet weights."""
    import socket

    import numpy as np

    def offline(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.delenv(perceptual.LPIPS_WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torchvision cache
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(socket.socket, "connect", offline)
    model = perceptual.load_lpips()
    assert model is not None, "LPIPS must load from the bundled weights"
    with np.load(perceptual.BUNDLED_WEIGHTS) as arrays:
        assert torch.equal(model.net.slice1._modules["0"].weight, torch.from_numpy(arrays["features.0.weight"]))
        assert torch.equal(model.net.slice5._modules["10"].bias, torch.from_numpy(arrays["features.10.bias"]))
    x, y = images(2), images(2, seed=3)
    assert torch.allclose(perceptual.lpips_distance(model, x, x), torch.zeros(2), atol=1e-7), "LPIPS(x, x) = 0"
    assert (perceptual.lpips_distance(model, x, y) > 0.01).all(), "different images are apart"


@pytest.mark.skipif(not os.environ.get("HYPERSIREN_SHARED_DATA"), reason="opt-in: set HYPERSIREN_SHARED_DATA")
def test_lpips_pretrained_offline_weights():
    path = Path(os.environ["HYPERSIREN_SHARED_DATA"]) / "lpips" / "alexnet_features_torchvision.npz"
    model = perceptual.load_lpips(path)
    assert model is not None
    x = images(2)
    assert torch.allclose(perceptual.lpips_distance(model, x, x), torch.zeros(2), atol=1e-7)
    assert (perceptual.lpips_distance(model, x, (x + 0.3).clamp(0, 1)) > 0.01).all()


def test_hires_metrics_score_the_rendering_the_hole_and_its_border_against_bicubic():
    from hypersiren.metrics.image import border_ring, hires_metrics, hole_at

    observed = torch.ones(2, 1, 8, 8, dtype=torch.bool)
    observed[..., 2:6, 2:6] = False
    missing = hole_at(observed, 16, 16)
    assert missing.sum().item() == 2 * 8 * 8, "a missing 4x4 block is an 8x8 block at twice the side"
    ring = border_ring(missing, 2)
    assert ring.sum().item() == 2 * (12 * 12 - 4 * 4), "2 pixels outside and 2 inside the border"
    truth = torch.rand(2, 3, 16, 16) * 2 - 1
    small = torch.nn.functional.interpolate(truth, size=8, mode="area")
    out = hires_metrics(truth, small, truth, observed)
    assert out["hires_psnr"].isinf().all() and out["hires_psnr_ring"].isinf().all(), "a perfect rendering"
    assert (out["bicubic_hires_psnr_missing"] < 40).all(), "bicubic of the small image loses the detail"
    flat = torch.full((2, 3, 16, 16), 0.2)
    bic = hires_metrics(flat, torch.full((2, 3, 8, 8), 0.2), flat, observed)["bicubic_hires_psnr"]
    assert bic.isinf().all(), "bicubic upsampling of a constant is the constant"
