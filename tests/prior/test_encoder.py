"""Encoders: every kind's output, missing pixels never read, which resolutions each takes, clear errors."""

from __future__ import annotations

import pytest
import torch

from hypersiren.prior import Latent
from hypersiren.prior.encoders import ENCODERS, build_encoder

KINDS = ["conv", "paper_cnn", "set", "timm:resnet10t", "grid"]


def _inputs(size: int = 16, b: int = 2, device: torch.device | str = "cpu"):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(b, 3, size, size, generator=g) * 2 - 1
    observed = torch.rand(b, 1, size, size, generator=g) < 0.4
    return images.to(device), observed.to(device)


def _code(out) -> torch.Tensor:
    return out.code if isinstance(out, Latent) else out


@pytest.mark.parametrize("kind", KINDS)
def test_latent_shape_and_missing_pixels_are_never_read(kind, device):
    torch.manual_seed(0)
    encoder = build_encoder(kind, 3, 24, 16, 8, grid_dim=4).eval().to(device)
    images, observed = _inputs(device=device)
    with torch.no_grad():
        out = encoder(images, observed)
        noise = torch.where(observed, images, torch.randn_like(images) * 5)  # other values at missing pixels
        again = encoder(noise, observed)
    assert _code(out).shape == (2, 24), kind
    if kind == "grid":
        assert out.grid.shape == (2, 4, 16, 16), "a local code per pixel at stride 1"
        torch.testing.assert_close(again.grid, out.grid)
    torch.testing.assert_close(_code(again), _code(out), msg=f"{kind} read a missing pixel")


@pytest.mark.parametrize("kind", ["conv", "set", "grid"])
def test_resolution_agnostic_encoders_take_any_size(kind):
    encoder = build_encoder(kind, 3, 24, 16, 8, grid_dim=4)
    for size in (12, 20, 33):
        assert _code(encoder(*_inputs(size))).shape == (2, 24), (kind, size)


def test_paper_cnn_is_fixed_to_its_size_and_set_encoder_is_a_mean_over_the_context():
    with pytest.raises(ValueError, match="fixed to 16x16.*encoder='conv'"):
        build_encoder("paper_cnn", 3, 24, 16, 8)(*_inputs(20))
    encoder = build_encoder("set", 3, 24, 16, 8)
    images, observed = _inputs(b=1)
    one = torch.zeros_like(observed)
    one[..., 3, 5] = True
    two = one.clone()
    two[..., 10, 2] = True
    mean = (encoder(images, one) + encoder(images, one ^ two)) / 2  # the two one-pixel sets
    torch.testing.assert_close(encoder(images, two), mean, msg="the embedding of a set is the mean over its pixels")
    assert encoder(images, torch.zeros_like(observed)).abs().max() == 0, "no context: the empty mean, zero"


def test_unknown_encoders_are_named():
    with pytest.raises(ValueError, match="unknown encoder 'cnn'.*conv"):
        build_encoder("cnn", 3, 24, 16, 8)
    with pytest.raises(ValueError, match="unknown timm encoder 'no_such_net'"):
        build_encoder("timm:no_such_net", 3, 24, 16, 8)
    assert "grid" in ENCODERS


def test_masked_gaussian_fill_is_a_local_mean_of_the_observed_pixels():
    from hypersiren.prior.grid_encoder import masked_gaussian_fill

    def fill(images, mask, sigma):
        return masked_gaussian_fill(torch.cat([images * mask, mask], dim=1), sigma)

    images, observed = _inputs(12)
    mask = observed.float()
    constant = torch.full_like(images, 0.3)
    filled = fill(constant, mask, 1.0)
    assert filled.shape == (2, 4, 12, 12)
    reached = (filled[:, 3:] > 1e-3).expand(-1, 3, -1, -1)  # a pixel with observed pixels within 3 sigma
    torch.testing.assert_close(
        filled[:, :3][reached], torch.full_like(filled[:, :3], 0.3)[reached]
    )  # a constant image is filled exactly wherever the context reaches
    assert filled[:, 3:].min() >= 0 and filled[:, 3:].max() <= 1
    # missing pixels are never read
    noisy = torch.where(observed, images, torch.randn_like(images) * 5)
    torch.testing.assert_close(fill(noisy, mask, 2.0), fill(images, mask, 2.0))
    # every pixel observed: the density is 1 away from the borders, and the normalisation undoes the zero padding,
    # so a constant image stays constant up to the borders
    full = fill(images, torch.ones_like(mask), 1.0)
    torch.testing.assert_close(full[:, 3:, 3:-3, 3:-3], torch.ones(2, 1, 6, 6))
    torch.testing.assert_close(fill(constant, torch.ones_like(mask), 2.0)[:, :3], constant)


def test_grid_encoder_with_fills_keeps_its_contract():
    torch.manual_seed(0)
    encoder = build_encoder("grid", 3, 24, 16, 8, grid_dim=4, fill_scales=3).eval()
    images, observed = _inputs(16)
    with torch.no_grad():
        out = encoder(images, observed)
        again = encoder(torch.where(observed, images, torch.randn_like(images) * 5), observed)
    assert out.grid.shape == (2, 4, 16, 16) and encoder.stem.in_channels == 4 * 4
    torch.testing.assert_close(again.grid, out.grid)
    assert encoder(*_inputs(20)).grid.shape == (2, 4, 20, 20)
    with pytest.raises(ValueError, match="fill_scales"):
        build_encoder("grid", 3, 24, 16, 8, fill_scales=-1)


def test_grid_encoder_with_a_deeper_bottleneck_keeps_its_contract():
    torch.manual_seed(0)
    plain = build_encoder("grid", 3, 24, 16, 8, grid_dim=4)
    assert not any(k.startswith("mid.") for k in plain.state_dict()), "defaults keep older checkpoints' keys"
    encoder = build_encoder("grid", 3, 24, 16, 8, grid_dim=4, mid_blocks=2, attention=True).eval()
    assert len(encoder.mid) == 3 and sum(k.startswith("mid.") for k in encoder.state_dict()) > 0
    images, observed = _inputs(16)
    with torch.no_grad():
        out = encoder(images, observed)
        again = encoder(torch.where(observed, images, torch.randn_like(images) * 5), observed)
    assert out.grid.shape == (2, 4, 16, 16) and out.code.shape == (2, 24)
    torch.testing.assert_close(again.grid, out.grid)
    torch.testing.assert_close(again.code, out.code)
    assert encoder(*_inputs(20)).grid.shape == (2, 4, 20, 20), "attention takes any number of cells"
    with pytest.raises(ValueError, match="mid_blocks"):
        build_encoder("grid", 3, 24, 16, 8, mid_blocks=-1)


def test_grid_encoder_stages_and_width_cap():
    encoder = build_encoder("grid", 3, 24, 16, 8, grid_dim=4, stages=4, width_mult=8, mid_blocks=1, attention=True)
    assert encoder.down[-1][0].body[2].out_channels == 8 * 8, "the fourth stage has 8 x width channels"
    assert len(encoder.down) == 5 and len(encoder.up) == 4
    for size in (16, 20):  # the deepest level is 1x1 and 2x2 cells here
        assert encoder(*_inputs(size)).grid.shape == (2, 4, size, size)
    for bad in (dict(stages=0), dict(width_mult=0)):
        with pytest.raises(ValueError, match="stages and width_mult"):
            build_encoder("grid", 3, 24, 16, 8, **bad)


def test_bottleneck_attention_mixes_every_cell():
    from hypersiren.prior.grid_encoder import SelfAttention

    torch.manual_seed(0)
    attention = SelfAttention(8, heads=2).eval()
    x = torch.randn(1, 8, 4, 4)
    y = attention(x)
    x2 = x.clone()
    x2[..., 3, 3] += 1.0  # one corner cell changes: the opposite corner's output changes too
    assert (attention(x2)[..., 0, 0] - y[..., 0, 0]).abs().max() > 1e-4
