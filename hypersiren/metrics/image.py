"""Per-sample metrics, the package's one vocabulary for them (SIREN Sec. 4.1, Sec. 4.4 Table 2): MSE, PSNR,
SSIM, and LPIPS through :mod:`hypersiren.metrics.perceptual`.

Every metric takes a batch ``(B, ...)`` (images ``(B, C, H, W)``; a single signal is a batch of one,
``signal[None]``) and returns one value per sample, ``(B,)``; average afterwards. Images are compared on
[0, 1]: :func:`to_unit` maps model outputs from [-1, 1] and clips them, as the paper's metric does ("MSE on
[0, 1], prediction clipped"). Signals kept in [-1, 1] give the same PSNR with ``data_range=2``.

- ``region`` (``(B, 1, H, W)`` bool) restricts MSE / PSNR to some pixels, e.g. the missing ones (the
  inpainting metrics) or the observed ones (the refinement's objective); a sample with an empty region
  gets NaN (``empty=`` chooses another value).
- SSIM: Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, valid
  filtering, the mean over channels: equal to ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0)``. On
  images smaller than 11 pixels the window shrinks to the largest odd size that fits.
- LPIPS (Zhang et al. 2018), AlexNet v0.1: :func:`hypersiren.metrics.perceptual.lpips_distance`; without its
  weights it is NaN (reported as unavailable).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from hypersiren.metrics.perceptual import lpips_distance


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """Model range [-1, 1] -> [0, 1], clipped (the paper clips predictions before its MSE)."""
    return ((images.float() + 1) / 2).clamp(0, 1)


def mse(
    pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None, *, empty: float = math.nan
) -> torch.Tensor:
    """Mean squared error per sample over every channel of the pixels in ``region`` (default: all).

    Args:
        pred, target: ``(B, ...)``, e.g. images ``(B, C, H, W)``.
        region: ``(B, 1, H, W)`` bool, the pixels to average over.
        empty: the value for a sample whose region is empty (NaN: undefined; a loss that asks for nothing
            uses 0, with a zero gradient).

    Returns:
        ``(B,)``.
    """
    err = (pred.float() - target.float()).square()  # (B, C, H, W)
    if region is None:
        return err.flatten(1).mean(1)
    weight = region.expand_as(err).float()
    count = weight.flatten(1).sum(1)
    out = (err * weight).flatten(1).sum(1) / count.clamp_min(1)
    return out.masked_fill(count == 0, empty)


def psnr_from_mse(err: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """``10 log10(data_range^2 / mse)`` elementwise; +inf where the MSE is 0."""
    return 10 * torch.log10(data_range**2 / err)


def psnr(
    pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None, data_range: float = 1.0
) -> torch.Tensor:
    """PSNR in dB per sample (from :func:`mse`; +inf for identical signals, NaN for an empty region).

    Args:
        data_range: the span of the values: 1 for [0, 1], 2 for signals in [-1, 1] (then equal to the PSNR of
            both mapped to [0, 1]).

    Returns:
        ``(B,)``.
    """
    return psnr_from_mse(mse(pred, target, region), data_range)


def _gaussian_band(n: int, size: int, sigma: float, device: torch.device) -> torch.Tensor:
    """``(n, n - size + 1)`` banded matrix: ``t @ band`` is a valid 1-D Gaussian filter along the last axis."""
    x = torch.arange(size, dtype=torch.float64, device="cpu") - (size - 1) / 2  # built on the host, then moved
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    band = torch.zeros(n, n - size + 1, dtype=torch.float64, device="cpu")
    for j in range(n - size + 1):
        band[j : j + size, j] = g
    return band.to(device=device, dtype=torch.float32)


def ssim(
    pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, window_size: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Structural similarity per sample (mean over channels and valid window positions).

    Args:
        pred, target: ``(B, C, H, W)`` on [0, ``data_range``].

    Returns:
        ``(B,)``, 1 for identical images.
    """
    h, w = pred.shape[-2:]
    size = min(window_size, h, w)
    size -= 1 - size % 2  # odd
    x, y = pred.float(), target.float()
    # The separable Gaussian as two banded matmuls: far faster on a CPU than a depthwise 11x11 conv.
    band_h, band_w = _gaussian_band(h, size, sigma, x.device), _gaussian_band(w, size, sigma, x.device)
    maps = torch.stack([x, y, x * x, y * y, x * y])  # (5, B, C, H, W)
    mu_x, mu_y, xx, yy, xy = band_h.T @ maps @ band_w  # each (B, C, H - k + 1, W - k + 1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)


def inpainting_metrics(
    raw: torch.Tensor,
    inpainted: torch.Tensor,
    target: torch.Tensor,
    observed: torch.Tensor,
    lpips_model: nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """All per-sample metrics of one batch, from model-range images.

    Args:
        raw: ``(B, C, H, W)`` the network's output on [-1, 1] (unclipped is fine).
        inpainted: ``(B, C, H, W)`` the output with the observed pixels pasted back.
        target: ``(B, C, H, W)`` ground truth on [-1, 1].
        observed: ``(B, 1, H, W)`` bool.
        lpips_model: from :func:`load_lpips`, or None for NaN.

    Returns:
        name -> ``(B,)``: ``mse`` (the paper's: raw output clipped, all pixels, [0, 1]), ``psnr`` (from
        it), ``mse_missing`` / ``psnr_missing`` (missing pixels only; NaN when none is missing), and
        ``ssim`` / ``lpips`` on the pasted image (what a user sees).
    """
    pred, filled, gt = to_unit(raw), to_unit(inpainted), to_unit(target)
    missing = ~observed
    out = {"mse": mse(pred, gt), "mse_missing": mse(pred, gt, missing)}
    out["psnr"] = psnr_from_mse(out["mse"])
    out["psnr_missing"] = psnr_from_mse(out["mse_missing"])
    out["ssim"] = ssim(filled, gt)
    out["lpips"] = lpips_distance(lpips_model, filled, gt)
    return out


def hole_at(observed: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The missing pixels of ``observed`` ``(B, 1, h, w)`` on a larger ``height x width`` grid: ``(B, 1, H, W)`` bool.

    A large pixel is missing when the small pixel its centre falls in is missing (nearest, pixel-centre convention).
    """
    return F.interpolate((~observed).float(), size=(height, width), mode="nearest-exact") > 0.5


def border_ring(missing: torch.Tensor, width: int = 2) -> torch.Tensor:
    """The pixels within ``width`` pixels (Chebyshev) of a hole's border, inside and outside: ``(B, 1, H, W)`` bool."""
    grown = F.max_pool2d(missing.float(), 2 * width + 1, stride=1, padding=width) > 0.5
    shrunk = -F.max_pool2d(-missing.float(), 2 * width + 1, stride=1, padding=width) > 0.5
    return grown & ~shrunk


def hires_metrics(
    rendered: torch.Tensor, completed: torch.Tensor, truth: torch.Tensor, observed: torch.Tensor, ring: int = 2
) -> dict[str, torch.Tensor]:
    """A rendering at a larger side against the real face at that side, beside bicubic upsampling of the completion.

    Args:
        rendered: ``(B, C, H, W)`` the SIRENs rendered at the larger side, on [-1, 1] (clipped here).
        completed: ``(B, C, h, w)`` the completion at the model's side (observed pixels kept).
        truth: ``(B, C, H, W)`` the same faces at the larger side, on [-1, 1].
        observed: ``(B, 1, h, w)`` bool, the model's context.
        ring: the half-width, in large pixels, of the band around the hole's border.

    Returns:
        name -> ``(B,)`` PSNR on [0, 1]: ``hires_psnr`` (every pixel), ``hires_psnr_missing`` (the hole's large
        pixels, :func:`hole_at`), ``hires_psnr_ring`` (:func:`border_ring`), and each again as ``bicubic_*`` for
        ``F.interpolate(completed, mode="bicubic", align_corners=False)``; NaN where a region is empty.
    """
    h, w = truth.shape[-2:]
    missing = hole_at(observed, h, w)
    regions = {"": None, "_missing": missing, "_ring": border_ring(missing, ring)}
    bicubic = F.interpolate(completed.float(), size=(h, w), mode="bicubic", align_corners=False)
    gt, out = to_unit(truth), {}
    for prefix, image in (("hires_psnr", rendered), ("bicubic_hires_psnr", bicubic)):
        for suffix, region in regions.items():
            out[prefix + suffix] = psnr_from_mse(mse(to_unit(image), gt, region))
    return out
