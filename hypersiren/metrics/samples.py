"""Metrics of a sampling inpainting prior (issue 23 item 4): K completions of each face scored over its hole.

Every function takes ``samples`` ``(B, K, C, H, W)`` (K completions of each of B images, model range [-1, 1]),
the truth ``target`` ``(B, C, H, W)`` on [-1, 1] and a ``region`` ``(B, 1, H, W)`` bool (the pixels scored,
usually the missing ones ``~observed``; None = every pixel), and returns one value per image, ``(B,)``; average
afterwards. Values are compared on [0, 1] (:func:`~hypersiren.metrics.image.to_unit`, clipped), as
:func:`~hypersiren.metrics.image.psnr` does; an image with an empty region gets NaN.

- PSNR: :func:`sample_psnr` (the mean over the K samples of each one's PSNR), :func:`best_of_k_psnr` (the best
  sample's) and its curve :func:`best_of_k_curve`, :func:`mean_psnr` (the PSNR of the samples' pixel mean,
  :func:`mean_completion`).
- :func:`crps`: the fair (unbiased) K-sample CRPS (Ferro 2014; Zamo & Naveau 2018) per pixel and channel,
  averaged; beside :func:`mae` of a point forecast, which is what CRPS is for a point (all samples equal). A
  calibrated Gaussian predictive scores CRPS / MAE(mean) = (1 / sqrt(pi)) / sqrt(2 / pi) = 0.71.
- :func:`coverage`: the share of the region's pixel-channels whose truth lies in the samples' central interval.
- :func:`diversity`: the mean pairwise LPIPS between the K completed images; :func:`uncertainty`: a per-pixel
  standard-deviation map for figures.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hypersiren.metrics.image import psnr, to_unit
from hypersiren.metrics.perceptual import lpips_distance


def _check(samples: torch.Tensor, target: torch.Tensor | None = None, min_k: int = 1) -> None:
    if samples.ndim != 5:
        raise ValueError(f"samples must be (B, K, C, H, W), got shape {tuple(samples.shape)}")
    if target is not None and target.shape != samples.shape[:1] + samples.shape[2:]:
        raise ValueError(
            f"target must be (B, C, H, W) = {tuple(samples.shape[:1] + samples.shape[2:])}, got {tuple(target.shape)}"
        )
    if samples.shape[1] < min_k:
        raise ValueError(f"this metric needs at least {min_k} samples per image, got K = {samples.shape[1]}")


def _region_mean(values: torch.Tensor, region: torch.Tensor | None) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B,)``: the mean over every channel of the pixels in ``region``; NaN when empty."""
    if region is None:
        return values.flatten(1).mean(1)
    weight = region.expand_as(values).to(values.dtype)
    count = weight.flatten(1).sum(1)
    return ((values * weight).flatten(1).sum(1) / count.clamp_min(1)).masked_fill(count == 0, math.nan)


def _log_comb(n: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``log C(n, r)`` elementwise (float64; only meaningful where 0 <= r <= n)."""
    return torch.lgamma(n + 1) - torch.lgamma(r + 1) - torch.lgamma((n - r).clamp_min(0) + 1)


def psnr_each(samples: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """The PSNR (dB, on [0, 1]) of every sample over ``region``: ``(B, K)``."""
    _check(samples, target)
    b, k = samples.shape[:2]
    flat = to_unit(samples).flatten(0, 1)  # (B K, C, H, W)
    truth = to_unit(target).repeat_interleave(k, 0)
    where = None if region is None else region.repeat_interleave(k, 0)
    return psnr(flat, truth, where).view(b, k)


def sample_psnr(samples: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """The mean over the K samples of each sample's PSNR over ``region``: ``(B,)``."""
    return psnr_each(samples, target, region).mean(1)


def best_of_k_psnr(samples: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """The PSNR of the best of the K samples (the max over samples): ``(B,)``."""
    return psnr_each(samples, target, region).amax(1)


def best_of_k_curve(
    samples: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None, *, average: bool = True
) -> torch.Tensor:
    """Best-of-k PSNR for k = 1..K: ``(B, K)``, column ``k - 1`` for k samples.

    Args:
        average: True: the exact mean over every ordering of the K samples, i.e. the expected best of k drawn
            without replacement, ``sum_j C(j - 1, k - 1) / C(K, k) p_(j)`` over the ascending PSNRs ``p_(j)``:
            an unbiased estimate of best-of-k that does not depend on the samples' order (column 0 is
            :func:`sample_psnr`, column K - 1 :func:`best_of_k_psnr`). False: the best of the first k samples.
    """
    each = psnr_each(samples, target, region)  # (B, K)
    if not average:
        return each.cummax(1).values
    big_k = each.shape[1]
    j = torch.arange(1, big_k + 1, dtype=torch.float64)[None, :]  # rank of a sorted sample, (1, K)
    k = torch.arange(1, big_k + 1, dtype=torch.float64)[:, None]  # subset size, (K, 1)
    valid = j >= k
    # C(j - 1, k - 1) / C(K, k) through lgamma: C(K, k) overflows float64 past K ~ 1000.
    log_w = _log_comb(j - 1, k - 1) - _log_comb(torch.tensor(float(big_k), dtype=torch.float64), k)
    weight = torch.where(valid, log_w.exp(), 0.0)  # (k, j), rows sum to 1
    ranked = each.double().sort(1).values  # (B, K) ascending
    # 0 * inf would be NaN where a sample is exact (PSNR +inf) but cannot be drawn as the best of k.
    terms = torch.where(weight[None] > 0, weight[None] * ranked[:, None, :], 0.0)  # (B, k, j)
    return terms.sum(-1).to(each.dtype)


def mean_completion(samples: torch.Tensor) -> torch.Tensor:
    """The samples' pixel mean ``(B, C, H, W)`` on [-1, 1], each sample clipped first (as every metric sees it)."""
    _check(samples)
    return samples.float().clamp(-1, 1).mean(1)


def mean_psnr(samples: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """The PSNR over ``region`` of the samples' pixel mean (:func:`mean_completion`): ``(B,)``."""
    _check(samples, target)
    return psnr(to_unit(mean_completion(samples)), to_unit(target), region)


def mae(pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error on [0, 1] of a point forecast over ``region`` (every channel): ``(B,)``.

    Args:
        pred: ``(B, C, H, W)`` on [-1, 1], e.g. :func:`mean_completion` (its CRPS is this MAE).
        target: ``(B, C, H, W)`` on [-1, 1].
    """
    return _region_mean((to_unit(pred) - to_unit(target)).abs(), region)


def crps(samples: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """The fair K-sample CRPS on [0, 1] per pixel and channel, averaged over ``region``: ``(B,)``.

    ``mean_i |X_i - y| - 1 / (2 K (K - 1)) sum_{i, j} |X_i - X_j|``, unbiased for the CRPS of the distribution
    the samples come from (the plain estimator, 1 / (2 K^2), favours small K). The pairwise sum in
    O(K log K): over the sorted samples it is ``2 sum_m m (K - m) (x_(m+1) - x_(m))``, a sum of non-negative
    gaps, so K equal samples spread exactly 0 and their CRPS is exactly the point forecast's MAE.

    Raises:
        ValueError: K < 2 (the fair estimator needs two samples).
    """
    _check(samples, target, min_k=2)
    x, y = to_unit(samples), to_unit(target)  # (B, K, C, H, W), (B, C, H, W)
    big_k = x.shape[1]
    skill = (x - y[:, None]).abs().mean(1)  # (B, C, H, W)
    gaps = x.sort(1).values.diff(dim=1)  # (B, K - 1, C, H, W), >= 0
    m = torch.arange(1, big_k, dtype=x.dtype, device=x.device)
    pair_weight = (m * (big_k - m) / (big_k * (big_k - 1))).view(1, -1, 1, 1, 1)
    spread = (gaps * pair_weight).sum(1)  # 1 / (2 K (K - 1)) sum_{i, j} |X_i - X_j|
    return _region_mean(skill - spread, region)


def empirical_quantile(samples: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q`` quantile over the K samples (dim 1), Hyndman & Fan type 6 (numpy ``method="weibull"``).

    The sample of rank ``q (K + 1)`` (1-based), linearly interpolated, clamped to the extremes: a value drawn from
    the samples' distribution falls below the sample of rank r with probability r / (K + 1), so the central
    interval of type 6 is nearly unbiased even for small K. (Type 7, numpy's and torch's default, uses rank
    ``1 + q (K - 1)``: with K = 20 its central 80% covers a calibrated truth only ~72% of the time.)

    Args:
        samples: ``(B, K, ...)``.

    Returns:
        ``(B, ...)``.
    """
    big_k = samples.shape[1]
    rank = min(max(q * (big_k + 1), 1.0), float(big_k)) - 1  # 0-based, fractional
    lo = math.floor(rank)
    hi = min(lo + 1, big_k - 1)
    frac = rank - lo
    ranked = samples.sort(1).values
    return ranked[:, lo] + frac * (ranked[:, hi] - ranked[:, lo])


def coverage(
    samples: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None, level: float = 0.8
) -> torch.Tensor:
    """The share of the region's pixel-channels whose truth lies in the samples' central ``level`` interval.

    Between the :func:`empirical_quantile` s ``(1 - level) / 2`` and ``(1 + level) / 2`` (type 6; ends included),
    on [0, 1]; for the default 80%, between the empirical 10% and 90% quantiles. Calibrated samples give about
    ``level`` (0.803 measured at K = 20); too narrow (overconfident) less, too wide more. Below K = 9 the 80%
    ends are the extreme samples, whose interval holds a calibrated truth only (K - 1) / (K + 1) of the time.

    Returns:
        ``(B,)`` in [0, 1].
    """
    _check(samples, target, min_k=2)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    x, y = to_unit(samples), to_unit(target)
    lo, hi = empirical_quantile(x, (1 - level) / 2), empirical_quantile(x, (1 + level) / 2)
    inside = ((y >= lo) & (y <= hi)).float()  # (B, C, H, W)
    return _region_mean(inside, region)


def diversity(samples: torch.Tensor, lpips_model: nn.Module | None, batch_size: int = 512) -> torch.Tensor:
    """The mean LPIPS over the K (K - 1) / 2 pairs of each image's completions: ``(B,)``.

    Through :func:`~hypersiren.metrics.perceptual.lpips_distance` (AlexNet v0.1, upsampled to 64) on the whole
    completed images, so the observed pixels, equal in every sample, count as LPIPS sees them. Costs K (K - 1)
    AlexNet passes per image (two per pair: 380 at K = 20; about 1 s per face on 2 busy CPU cores).

    Args:
        samples: ``(B, K, C, H, W)`` completed images on [-1, 1].
        lpips_model: from :func:`~hypersiren.metrics.perceptual.load_lpips`; None gives NaN.
        batch_size: pairs per LPIPS call.

    Returns:
        ``(B,)``, 0 for identical samples; NaN without a model.
    """
    _check(samples, min_k=2)
    b, k = samples.shape[:2]
    if lpips_model is None:
        return torch.full((b,), math.nan)
    i, j = torch.triu_indices(k, k, offset=1)  # (P,) each
    image = torch.arange(b).repeat_interleave(len(i))  # (B P,), image-major
    first, second = i.repeat(b), j.repeat(b)
    x = to_unit(samples)
    # Gathered a chunk at a time: all B K (K - 1) / 2 pairs at once would be ~1 GB for 250 faces at K = 20.
    dist = torch.cat(
        [
            lpips_distance(
                lpips_model,
                x[image[s : s + batch_size], first[s : s + batch_size]],
                x[image[s : s + batch_size], second[s : s + batch_size]],
            )
            for s in range(0, len(image), batch_size)
        ]
    )
    return dist.view(b, -1).mean(1)


def uncertainty(samples: torch.Tensor) -> torch.Tensor:
    """The per-pixel standard deviation of the samples on [0, 1] (K - 1 denominator), mean over channels.

    Returns:
        ``(B, 1, H, W)``, for figures.
    """
    _check(samples, min_k=2)
    return to_unit(samples).std(1).mean(1, keepdim=True)
