"""Metrics of K samples: CRPS and coverage against Gaussian closed forms, a point forecast's CRPS = MAE, best-of-K."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from hypersiren.metrics import perceptual
from hypersiren.metrics import samples as sm


def gaussian_crps(y: torch.Tensor, mu: float, s: float) -> torch.Tensor:
    """CRPS of N(mu, s^2) at y: s [z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)], z = (y - mu) / s."""
    z = (y - mu) / s
    normal = torch.distributions.Normal(0.0, 1.0)
    return s * (z * (2 * normal.cdf(z) - 1) + 2 * normal.log_prob(z).exp() - 1 / math.sqrt(math.pi))


def centre_region(b: int, size: int) -> torch.Tensor:
    region = torch.zeros(b, 1, size, size, dtype=torch.bool)
    region[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = True
    return region


def test_fair_crps_approaches_the_gaussian_closed_form():
    # On [0, 1]: N(0.5, 0.05^2), far from the clip limits; truths on a grid of z in [-2.5, 2.5]. K = 4, where the
    # plain estimator (1 / (2 K^2)) is 16% low. Over 40 seeds the batch mean's relative error had sd 0.0023 and
    # |max| 0.0057: 0.015 is ~6 sd.
    b, k, size, mu, s = 8, 4, 32, 0.5, 0.05
    y = (mu + s * torch.linspace(-2.5, 2.5, 3 * size * size)).view(1, 3, size, size).expand(b, -1, -1, -1)
    x = mu + s * torch.randn(b, k, 3, size, size, generator=torch.Generator().manual_seed(0))
    got = sm.crps(x * 2 - 1, y * 2 - 1).mean()
    ref = gaussian_crps(y, mu, s).mean()
    assert abs(got / ref - 1) < 0.015, f"fair CRPS {got:.5f} vs closed form {ref:.5f}"


def test_crps_equals_a_brute_force_double_sum():
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 5, 3, 6, 6, generator=g) * 2 - 1, torch.rand(2, 3, 6, 6, generator=g) * 2 - 1
    region = centre_region(2, 6)
    xu, yu, k = (x + 1) / 2, (y + 1) / 2, 5
    per = (xu - yu[:, None]).abs().mean(1) - (xu[:, :, None] - xu[:, None]).abs().sum((1, 2)) / (2 * k * (k - 1))
    ref = torch.stack([per[i][region[i].expand(3, -1, -1)].mean() for i in range(2)])
    assert torch.allclose(sm.crps(x, y, region), ref, atol=1e-6)


def test_a_point_forecast_has_crps_equal_to_its_mae_exactly():
    # Dyadic values (multiples of 1/256 on [0, 1]) make every sum exact, so equality is bitwise.
    g = torch.Generator().manual_seed(2)
    point = torch.randint(0, 257, (3, 3, 8, 8), generator=g) / 128 - 1
    truth = torch.randint(0, 257, (3, 3, 8, 8), generator=g) / 128 - 1
    samples = point[:, None].expand(-1, 20, -1, -1, -1)
    region = centre_region(3, 8)
    assert torch.equal(sm.crps(samples, truth, region), sm.mae(point, truth, region)), "CRPS of a point is its MAE"
    assert torch.equal(sm.mae(sm.mean_completion(samples), truth, region), sm.mae(point, truth, region))
    rough = torch.rand(3, 3, 8, 8, generator=g) * 2 - 1  # any values: equal up to rounding
    assert torch.allclose(sm.crps(rough[:, None].expand(-1, 7, -1, -1, -1), truth), sm.mae(rough, truth), atol=1e-7)


def test_coverage_of_a_calibrated_gaussian_is_the_level():
    # The truth drawn from the samples' own Gaussian (mean varying per pixel). K = 20: over 40 seeds the batch mean
    # was 0.8031 (sd 0.0025, range 0.7980..0.8097); type-7 quantiles (numpy's default) would give ~0.727.
    b, k, size, s = 8, 20, 32, 0.05
    g = torch.Generator().manual_seed(3)
    mu = torch.rand(b, 3, size, size, generator=g) * 0.4 + 0.3
    x = mu[:, None] + s * torch.randn(b, k, 3, size, size, generator=g)
    y = mu + s * torch.randn(b, 3, size, size, generator=g)
    got = sm.coverage(x * 2 - 1, y * 2 - 1).mean().item()
    assert abs(got - 0.80) < 0.015, f"coverage {got:.4f}"
    too_narrow = sm.coverage((mu[:, None] + 0.5 * (x - mu[:, None])) * 2 - 1, y * 2 - 1).mean().item()
    assert too_narrow < 0.6, "samples with half the spread cover far less"


def test_coverage_counts_the_interval_ends_and_the_region_only():
    # K = 9: the type-6 10% and 90% quantiles are the extreme samples (ranks 0.1 x 10 and 0.9 x 10); dyadic values.
    unit = 0.25 + torch.arange(9) / 16  # 0.25 .. 0.75 on [0, 1]
    samples = (unit * 2 - 1).view(1, 9, 1, 1, 1).expand(1, 9, 1, 1, 4)
    truth = (torch.tensor([0.25, 0.75, 0.875, 0.5]) * 2 - 1).view(1, 1, 1, 4)  # both ends, above, inside
    assert sm.coverage(samples, truth).item() == 0.75
    region = torch.tensor([[[[False, False, True, False]]]])
    assert sm.coverage(samples, truth, region).item() == 0.0


@pytest.mark.parametrize("q", [0.01, 0.1, 0.5, 0.9, 0.99])
def test_empirical_quantile_is_numpy_weibull(q):
    x = torch.rand(3, 20, 4, generator=torch.Generator().manual_seed(4))
    ref = np.quantile(x.numpy(), q, axis=1, method="weibull")
    assert np.allclose(sm.empirical_quantile(x, q).numpy(), ref, atol=1e-7)


def test_best_of_k_and_its_curve():
    g = torch.Generator().manual_seed(5)
    truth = torch.rand(3, 3, 8, 8, generator=g) * 2 - 1
    samples = truth[:, None] + 0.3 * torch.randn(3, 6, 3, 8, 8, generator=g)
    region = centre_region(3, 8)
    each = sm.psnr_each(samples, truth, region)
    mean, best = sm.sample_psnr(samples, truth, region), sm.best_of_k_psnr(samples, truth, region)
    assert (best >= mean).all() and (best > mean + 0.1).all(), "the best sample beats the average sample"
    curve = sm.best_of_k_curve(samples, truth, region)
    brute = torch.stack(
        [
            torch.stack([each[:, list(c)].amax(1) for c in itertools.combinations(range(6), k)]).mean(0)
            for k in range(1, 7)
        ],
        1,
    )
    assert torch.allclose(curve, brute, atol=1e-4), "the mean over every subset of size k"
    assert torch.allclose(curve[:, 0], mean, atol=1e-4) and torch.allclose(curve[:, -1], best)
    assert (curve.diff(dim=1) >= 0).all(), "more samples never do worse"
    first = sm.best_of_k_curve(samples, truth, region, average=False)
    assert torch.equal(first, each.cummax(1).values) and torch.equal(first[:, 0], each[:, 0])


def test_an_exact_sample_gives_infinite_best_of_k_without_nan():
    truth = torch.zeros(1, 3, 4, 4)
    samples = torch.stack([truth + 0.2, truth, truth - 0.2], 1)
    assert sm.best_of_k_curve(samples, truth).isinf().all(), "every subset size may draw the exact one; never NaN"
    first = sm.best_of_k_curve(samples, truth, average=False)
    assert torch.isfinite(first[0, 0]) and first[0, 1:].isinf().all()


def test_mean_psnr_of_symmetric_samples_is_exact():
    truth = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(6)) - 0.5
    samples = torch.stack([truth + 0.2, truth - 0.2], 1)
    assert (sm.mean_psnr(samples, truth) > 100).all(), "their mean is the truth (up to rounding)"
    assert torch.allclose(sm.sample_psnr(samples, truth), torch.full((2,), 20.0), atol=1e-3), "0.1 off on [0, 1]"


def test_uncertainty_map():
    truth = torch.zeros(2, 3, 4, 4)
    samples = torch.stack([truth + 0.2, truth - 0.2], 1)  # 0.1 either side on [0, 1]: std sqrt(2) 0.1
    out = sm.uncertainty(samples)
    assert out.shape == (2, 1, 4, 4) and torch.allclose(out, torch.full_like(out, math.sqrt(2) * 0.1))


def test_diversity_zero_for_identical_samples_positive_otherwise():
    torch.manual_seed(0)
    model = perceptual.random_lpips()
    g = torch.Generator().manual_seed(7)
    image = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    same = image[:, None].expand(-1, 4, -1, -1, -1)
    assert torch.allclose(sm.diversity(same, model), torch.zeros(2), atol=1e-7)
    varied = (same + 0.3 * torch.randn(2, 4, 3, 16, 16, generator=g)).clamp(-1, 1)
    div = sm.diversity(varied, model, batch_size=5)  # 6 pairs per image over calls of 5
    assert (div > 0).all()
    pairs = torch.stack(
        [
            perceptual.lpips_distance(model, (varied[:, i] + 1) / 2, (varied[:, j] + 1) / 2)
            for i, j in itertools.combinations(range(4), 2)
        ]
    )
    assert torch.allclose(div, pairs.mean(0), atol=1e-6), "the mean over the K (K - 1) / 2 pairs"
    assert torch.isnan(sm.diversity(varied, None)).all(), "no LPIPS: NaN"


def test_empty_region_is_nan_and_bad_shapes_are_clear_errors():
    samples, truth = torch.zeros(2, 3, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    region = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    region[0, 0, 0, 0] = True
    for fn in (sm.sample_psnr, sm.mean_psnr, sm.crps, sm.coverage):
        out = fn(samples + 0.1, truth, region)
        assert out.shape == (2,) and not out[0].isnan() and out[1].isnan(), fn.__name__
    with pytest.raises(ValueError, match=r"\(B, K, C, H, W\)"):
        sm.crps(truth, truth)
    with pytest.raises(ValueError, match="target must be"):
        sm.sample_psnr(samples, truth[:1])
    with pytest.raises(ValueError, match="at least 2 samples"):
        sm.crps(samples[:, :1], truth)
    with pytest.raises(ValueError, match="level"):
        sm.coverage(samples, truth, level=1.0)
