"""A realism distance (issue 23 item 4): the Fréchet distance between AlexNet features of two image sets.

FID (Heusel et al. 2017) with the backbone this package already has offline instead of Inception: LPIPS's
AlexNet (:mod:`hypersiren.metrics.perceptual`, torchvision's ImageNet weights). Each image, on [-1, 1], is fed as
LPIPS feeds it (LPIPS's scaling layer; one channel repeated to three; bilinearly upsampled so its shorter side
is at least ``min_size``), and ``relu5`` (the last conv's ReLU, before the final max-pool, 256 channels) is pooled over
space (``pool="mean"``: global average). Two Gaussians are fitted to the two feature sets and compared:
``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``.

Default protocol, ``min_size=64, pool="mean"`` (as LPIPS sees a 32x32 face; relu5 is then 3x3), calibrated by
``bench/probes/frechet_calibration.py`` against the issue's numbers on CelebA 32 (official test ids < 192600,
faces 0..999 against 1000..1999): two real sets 7.2 (quoted 5.8; other disjoint pairs of 1,000 give 5.5..7.3),
the shipped prior's completions of the 16x16 centre 21.6 (23.1), the centre replaced by a Gaussian blur (sigma 2)
of the face 134.5 (133). At 32 pixels relu5 is 1x1 (7.5 / 21.9 / 81.5); at 224, mean-pooled, everything is
near 0 (0.2 / 0.9 / 1.7); max pooling at 64 inflates all three (37.8 / 82.4 / 449). Numbers depend on N (the
estimate is biased upwards, like FID's): compare sets of equal size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hypersiren.metrics.image import to_unit
from hypersiren.metrics.perceptual import LPIPS_MIN_SIZE

POOLS = ("mean", "max")


@torch.no_grad()
def alexnet_features(
    images: torch.Tensor,
    lpips_model: nn.Module,
    *,
    min_size: int = LPIPS_MIN_SIZE,
    pool: str = "mean",
    layer: int = 5,
    batch_size: int = 250,
) -> torch.Tensor:
    """Globally pooled AlexNet features of LPIPS's backbone: ``(N, channels)`` float32 on the CPU.

    Args:
        images: ``(N, C, H, W)`` on [-1, 1] (clipped here; C = 1 is repeated to three).
        lpips_model: an LPIPS AlexNet model, from :func:`~hypersiren.metrics.perceptual.load_lpips`.
        min_size: images whose shorter side is below it are bilinearly upsampled to it (``align_corners=False``), as
            :func:`~hypersiren.metrics.perceptual.lpips_distance` does; larger ones are fed as they are.
        pool: ``"mean"`` (global average) or ``"max"`` over the feature map.
        layer: 1..5, the ``relu{layer}`` map (channels 64, 192, 384, 256, 256); the default relu5.
        batch_size: images per forward pass.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    if not 1 <= layer <= 5:
        raise ValueError(f"layer must be 1..5 (relu1..relu5), got {layer}")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    device = next(lpips_model.parameters()).device
    out = []
    for start in range(0, images.shape[0], batch_size):
        x = to_unit(images[start : start + batch_size]) * 2 - 1  # (n, C, H, W), clipped, [-1, 1]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        short = min(x.shape[-2:])
        if short < min_size:
            size = [round(s * min_size / short) for s in x.shape[-2:]]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        feats = lpips_model.net(lpips_model.scaling_layer(x.to(device)))[layer - 1]  # (n, channels, h, w)
        pooled = feats.mean((2, 3)) if pool == "mean" else feats.amax((2, 3))
        out.append(pooled.float().cpu())
    return torch.cat(out)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_from_moments(
    mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor, cov_b: torch.Tensor
) -> torch.Tensor:
    """The Fréchet (2-Wasserstein squared) distance between N(mu_a, cov_a) and N(mu_b, cov_b), float64 scalar.

    ``tr (C_a C_b)^(1/2)`` as ``tr (C_a^(1/2) C_b C_a^(1/2))^(1/2)`` (the same eigenvalues, but a symmetric
    PSD matrix, so two ``eigh`` calls in float64 replace ``scipy.linalg.sqrtm`` of a non-symmetric product, with
    no complex parts to discard). Clamped at 0 (rounding can leave -1e-13 for equal moments).

    Args:
        mu_a, mu_b: ``(D,)``.
        cov_a, cov_b: ``(D, D)`` symmetric PSD.
    """
    mu_a, mu_b, cov_a, cov_b = (t.double() for t in (mu_a, mu_b, cov_a, cov_b))
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    dist = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    return dist.clamp_min(0)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The Fréchet distance between Gaussians fitted to two feature sets (mean, unbiased covariance): float64 scalar.

    Args:
        a: ``(N, D)``; b: ``(M, D)``; N, M >= 2.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D), got {tuple(a.shape)} and {tuple(b.shape)}")
    if min(a.shape[0], b.shape[0]) < 2:
        raise ValueError("each feature set needs at least 2 rows for a covariance")
    a, b = a.double(), b.double()
    return frechet_from_moments(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))


def frechet_alexnet(
    images_a: torch.Tensor, images_b: torch.Tensor, lpips_model: nn.Module, **features_kw
) -> torch.Tensor:
    """The Fréchet AlexNet distance between two image sets ``(N, C, H, W)`` and ``(M, C, H, W)`` on [-1, 1].

    Keyword arguments go to :func:`alexnet_features` (``min_size``, ``pool``, ``layer``, ``batch_size``).

    Returns:
        a float64 scalar, 0 for equal sets.
    """
    return frechet_distance(
        alexnet_features(images_a, lpips_model, **features_kw), alexnet_features(images_b, lpips_model, **features_kw)
    )
