"""The Fréchet distance: 0 for equal sets, closed forms for Gaussians, scipy's sqrtm; AlexNet features as LPIPS's."""

from __future__ import annotations

import math

import pytest
import torch

from hypersiren.metrics import frechet, perceptual


def features(n: int = 200, d: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + torch.randn(d, generator=g, dtype=torch.float64)


def with_moments(mu: torch.Tensor, cov: torch.Tensor, n: int = 100, seed: int = 0) -> torch.Tensor:
    """``(n, D)`` points whose sample mean and (unbiased) covariance are exactly ``mu`` and ``cov``."""
    z = torch.randn(n, len(mu), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    white = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T  # sample covariance I
    return mu + white @ torch.linalg.cholesky(cov).T


def spd(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


@pytest.mark.parametrize(("n", "d"), [(200, 16), (50, 64)])  # full rank, and fewer points than dimensions
def test_identical_sets_are_at_zero(n, d):
    a = features(n, d)
    scale = 2 * torch.cov(a.T).trace()
    assert frechet.frechet_distance(a, a) / scale < 1e-6
    assert frechet.frechet_distance(a, a.flip(0)) / scale < 1e-6, "the order of the rows does not matter"


def test_a_shifted_set_is_at_the_squared_shift_and_grows():
    a, direction = features(), torch.randn(16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dists = [frechet.frechet_distance(a, a + t * direction).item() for t in (0.1, 0.5, 1.0, 2.0)]
    assert all(x < y for x, y in zip(dists, dists[1:], strict=False)) and dists[0] > 0, dists
    expected = [t**2 * direction.square().sum().item() for t in (0.1, 0.5, 1.0, 2.0)]
    assert dists == pytest.approx(expected, rel=1e-6), "equal covariances: |mu_a - mu_b|^2"


def test_two_gaussians_match_the_closed_forms():
    # Diagonal covariances: |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    mu_a, mu_b = torch.zeros(8, dtype=torch.float64), torch.arange(8, dtype=torch.float64) / 4
    va, vb = torch.linspace(0.5, 2, 8, dtype=torch.float64), torch.linspace(3, 0.2, 8, dtype=torch.float64)
    expected = (mu_a - mu_b).square().sum() + (va.sqrt() - vb.sqrt()).square().sum()
    got = frechet.frechet_from_moments(mu_a, torch.diag(va), mu_b, torch.diag(vb))
    assert got.item() == pytest.approx(expected.item(), rel=1e-10)
    # 2x2, not commuting: tr (A B)^(1/2) = sqrt(tr(A B) + 2 sqrt(det A det B)).
    a, b = spd(2, 2), spd(2, 3)
    assert not torch.allclose(a @ b, b @ a)
    m_a, m_b = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([0.5, 0.0], dtype=torch.float64)
    cross = torch.sqrt((a @ b).trace() + 2 * torch.sqrt(torch.det(a) * torch.det(b)))
    expected = (m_a - m_b).square().sum() + a.trace() + b.trace() - 2 * cross
    assert frechet.frechet_from_moments(m_a, a, m_b, b).item() == pytest.approx(expected.item(), rel=1e-10)
    # Through frechet_distance, on point sets with exactly these moments.
    got = frechet.frechet_distance(with_moments(m_a, a, seed=4), with_moments(m_b, b, seed=5))
    assert got.item() == pytest.approx(expected.item(), rel=1e-9)


def test_agrees_with_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    a, b = features(300, 12, seed=6), features(300, 12, seed=7) * 1.3
    ca, cb = torch.cov(a.T).numpy(), torch.cov(b.T).numpy()
    root = linalg.sqrtm(ca @ cb)
    expected = ((a.mean(0) - b.mean(0)).square().sum().item() + ca.trace() + cb.trace() - 2 * root.trace().real).item()
    assert frechet.frechet_distance(a, b).item() == pytest.approx(expected, rel=1e-8)


def test_bad_feature_sets_are_clear_errors():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        frechet.frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="at least 2"):
        frechet.frechet_distance(torch.zeros(1, 3), torch.zeros(5, 3))


@pytest.fixture(scope="module")
def lpips_model():
    torch.manual_seed(0)
    return perceptual.random_lpips()


def faces(n: int = 6, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_alexnet_features_are_relu5_of_what_lpips_sees(lpips_model):
    x, y = faces(), faces(seed=1)
    seen = []
    hook = lpips_model.net.slice5.register_forward_hook(lambda module, inputs, out: seen.append(out))
    try:
        perceptual.lpips_distance(lpips_model, (x + 1) / 2, (y + 1) / 2)  # calls the net on x, then on y
    finally:
        hook.remove()
    assert seen[0].shape[-2:] == (3, 3), "at 64 pixels relu5 is 3x3"
    ours = frechet.alexnet_features(x, lpips_model, batch_size=4)
    assert ours.shape == (6, 256)
    assert torch.allclose(ours, seen[0].mean((2, 3)), atol=1e-5), "the default protocol: as LPIPS, mean-pooled"
    assert torch.allclose(frechet.alexnet_features(x, lpips_model, pool="max"), seen[0].amax((2, 3)), atol=1e-5)


def test_alexnet_features_options(lpips_model):
    x = faces()
    assert frechet.alexnet_features(faces(size=32), lpips_model, min_size=0).shape == (6, 256), "32 pixels as they are"
    at32 = [frechet.alexnet_features(x, lpips_model, min_size=32, pool=p) for p in ("mean", "max")]
    assert torch.allclose(*at32), "at 32 pixels relu5 is 1x1: both poolings agree"
    assert frechet.alexnet_features(x, lpips_model, layer=3).shape == (6, 384)
    grey = x[:, :1]
    assert torch.allclose(
        frechet.alexnet_features(grey, lpips_model), frechet.alexnet_features(grey.expand(-1, 3, -1, -1), lpips_model)
    ), "one channel is repeated to three"
    with pytest.raises(ValueError, match="pool"):
        frechet.alexnet_features(x, lpips_model, pool="median")
    with pytest.raises(ValueError, match="layer"):
        frechet.alexnet_features(x, lpips_model, layer=6)


def test_frechet_alexnet_of_image_sets(lpips_model):
    a, b = faces(24, seed=2), faces(24, seed=3)
    same = frechet.frechet_alexnet(a, a, lpips_model)
    scale = 2 * torch.cov(frechet.alexnet_features(a, lpips_model).double().T).trace()
    assert same / scale < 1e-6
    brighter = [frechet.frechet_alexnet(a, (a + t).clamp(-1, 1), lpips_model).item() for t in (0.1, 0.4)]
    assert 0 < brighter[0] < brighter[1], brighter
    assert frechet.frechet_alexnet(a, b, lpips_model, min_size=32).item() > 0
