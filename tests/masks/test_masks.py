"""Observed-pixel masks: exact pixel counts, shapes, reproducibility and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hypersiren.masks import KINDS, MaskError, make_observed, sample_observed


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "file"])
def test_every_kind_shape_dtype_and_seeded(kind):
    a = make_observed(kind, 3, 16, 12, num_context=40, generator=gen(1))
    b = make_observed(kind, 3, 16, 12, num_context=40, generator=gen(1))
    assert a.shape == (3, 1, 16, 12) and a.dtype == torch.bool
    assert torch.equal(a, b), f"{kind}: the same seed must give the same mask"


def test_center_counts():
    observed = make_observed("center", 2, 32, 32)
    assert (~observed).sum().item() == 2 * 16 * 16, "default hole: 16x16 of 32x32"
    hole = ~observed[0, 0]
    assert hole[8:24, 8:24].all() and hole.sum() == 256, "the hole is centred"
    assert (~make_observed("center", 1, 32, 32, center_frac=0.25)).sum().item() == 8 * 8


def test_masks_scale_with_the_image_at_64():
    """At 64x64 the centre hole is the middle half of each side (32x32), a half is 2048 pixels, and random /
    bernoulli take the count given (the scaled protocol's 4x counts)."""
    hole = ~make_observed("center", 2, 64, 64)[:, 0]
    assert hole.sum().item() == 2 * 32 * 32 and hole[:, 16:48, 16:48].all()
    for kind in ("half", "half_bottom", "half_left", "half_right"):
        assert make_observed(kind, 2, 64, 64).sum().item() == 2 * 2048, kind
    assert make_observed("random", 3, 64, 64, num_context=4000, generator=gen(0)).sum(dim=(1, 2, 3)).eq(4000).all()
    rate = make_observed("bernoulli", 64, 64, 64, num_context=400, generator=gen(0)).float().mean().item()
    assert abs(rate - 400 / 4096) < 0.01, rate
    assert make_observed("brush", 4, 64, 64, generator=gen(0)).shape == (4, 1, 64, 64)


@pytest.mark.parametrize(
    ("kind", "rows", "cols"),
    [
        ("half", slice(0, 16), slice(None)),
        ("half_top", slice(0, 16), slice(None)),
        ("half_bottom", slice(16, 32), slice(None)),
        ("half_left", slice(None), slice(0, 16)),
        ("half_right", slice(None), slice(16, 32)),
    ],
)
def test_half_counts(kind, rows, cols):
    observed = make_observed(kind, 2, 32, 32)[:, 0]
    assert observed.sum().item() == 2 * 512, f"{kind}: half of 1024 pixels observed"
    assert observed[:, rows, cols].all(), f"{kind}: the kept half is observed"


@pytest.mark.parametrize("n", [0, 10, 100, 1000, 1024])
def test_random_exact_count(n):
    observed = make_observed("random", 5, 32, 32, num_context=n, generator=gen())
    assert observed.flatten(1).sum(1).tolist() == [n] * 5, "exactly num_context observed pixels per image"
    if 0 < n < 1024:
        assert not torch.equal(observed[0], observed[1]), "each image gets its own context"


def test_bernoulli_rate():
    observed = make_observed("bernoulli", 200, 32, 32, num_context=100, generator=gen())
    mean = observed.float().sum((1, 2, 3)).mean().item()
    assert abs(mean - 100) < 3, f"mean context size {mean} should be about 100 (p = 100/1024)"


def test_full_and_brush():
    assert make_observed("full", 2, 8, 8).all()
    observed = make_observed("brush", 64, 32, 32, generator=gen())
    frac = (~observed).float().mean((1, 2, 3))
    assert (frac > 0).all(), "every image gets at least one stroke"
    assert 0.05 < frac.mean().item() < 0.6, f"strokes cover {frac.mean():.2f} of the image on average"
    assert not torch.equal(observed[0], observed[1])


def test_file_mask_white_is_missing_and_resized(tmp_path):
    img = np.zeros((64, 64), dtype=np.uint8)
    img[:32] = 255  # top half white = missing
    Image.fromarray(img).convert("RGB").save(tmp_path / "m.png")
    observed = make_observed("file", 2, 32, 32, path=tmp_path / "m.png")
    assert observed.shape == (2, 1, 32, 32)
    assert not observed[:, :, :16].any() and observed[:, :, 16:].all()


def test_errors(tmp_path):
    with pytest.raises(MaskError, match="valid kinds: center, half"):
        make_observed("blob", 1, 8, 8)
    with pytest.raises(ValueError, match=r"num_context must lie in \[0, 64\]"):
        make_observed("random", 1, 8, 8, num_context=65)
    with pytest.raises(ValueError, match=r"num_context must lie in \[0, 64\]"):
        make_observed("bernoulli", 1, 8, 8, num_context=65)
    with pytest.raises(MaskError, match="needs num_context"):
        make_observed("random", 1, 8, 8)
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    with pytest.raises(MaskError, match="not_an_image.png"):
        make_observed("file", 1, 8, 8, path=bad)
    with pytest.raises(MaskError, match="missing.png"):
        make_observed("file", 1, 8, 8, path=tmp_path / "missing.png")
    with pytest.raises(MaskError, match="needs a path"):
        make_observed("file", 1, 8, 8)
    with pytest.raises(MaskError, match="center_frac"):
        make_observed("center", 1, 8, 8, center_frac=1.5)


def test_training_context_counts_and_holes():
    g = torch.Generator().manual_seed(0)
    exact = sample_observed(64, 16, 16, g, context_min=10, context_max=50, sampling="exact")
    counts = exact.sum((1, 2, 3))
    assert exact.shape == (64, 1, 16, 16) and counts.min() >= 10 and counts.max() < 50, "k in [10, 50)"
    logu = sample_observed(4000, 16, 16, g, context_min=1, context_max=257, sampling="exact", log_uniform=True)
    assert (logu.sum((1, 2, 3)) < 16).float().mean() > 0.4, "log-uniform: half the draws below sqrt(256)"
    holes = sample_observed(64, 16, 16, g, sampling="bernoulli", hole_prob=1.0)
    assert (holes.float().mean((1, 2, 3)) >= 0.4).all(), "every image a square hole (<= 3/4 side) or a half"
    again = sample_observed(
        64, 16, 16, torch.Generator().manual_seed(0), context_min=10, context_max=50, sampling="exact"
    )
    assert torch.equal(again, exact), "seeded"
    with pytest.raises(ValueError, match="empty"):
        sample_observed(1, 4, 4, g, context_min=20, context_max=30)
    with pytest.raises(ValueError, match="'bernoulli' or 'exact'"):
        sample_observed(1, 4, 4, g, sampling="poisson")


def test_dense_context_draws_the_missing_count_log_uniformly():
    kw = dict(context_min=10, context_max=257, sampling="exact", log_uniform=True)
    dense = sample_observed(4000, 16, 16, torch.Generator().manual_seed(0), dense_prob=1.0, **kw)
    missing = 256 - dense.sum((1, 2, 3))
    assert missing.min() >= 1 and missing.max() <= 246, "k in [context_min, H W - 1]"
    assert 0.4 < (missing < 16).float().mean() < 0.6, "half the draws miss fewer than sqrt(247) pixels"
    half = sample_observed(4000, 16, 16, torch.Generator().manual_seed(0), dense_prob=0.5, **kw)
    plain = sample_observed(4000, 16, 16, torch.Generator().manual_seed(0), **kw)
    share = (half.sum((1, 2, 3)) != plain.sum((1, 2, 3))).float().mean()
    assert 0.4 < share < 0.55, "about half the images redrawn, the rest keep the plain draw's k"
    with pytest.raises(ValueError, match="dense_prob"):
        sample_observed(1, 4, 4, torch.Generator(), context_min=1, dense_prob=1.5)
