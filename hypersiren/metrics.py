"""Per-sample image metrics for inpainting (SIREN Sec. 4.4, Table 2): MSE, PSNR, SSIM, LPIPS.

Every metric takes images on [0, 1], ``(B, C, H, W)``, and returns one value per sample, ``(B,)``;
average afterwards. :func:`to_unit` maps model outputs from [-1, 1] and clips them, as the paper's
metric does ("MSE on [0, 1], prediction clipped").

- ``region`` (``(B, 1, H, W)`` bool) restricts MSE / PSNR to some pixels, e.g. the missing ones; a
  sample with an empty region gets NaN.
- SSIM: Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, valid
  filtering, the mean over channels: equal to ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0)``. On
  images smaller than 11 pixels the window shrinks to the largest odd size that fits.
- LPIPS (Zhang et al. 2018) through the ``lpips`` package, AlexNet backbone, v0.1 heads. The backbone
  weights come from, in order: an explicit ``.npz``/``.pth`` file, the environment variable
  ``HYPERSIREN_LPIPS_WEIGHTS``, torchvision's cache or download. When none works, :func:`load_lpips`
  logs a warning and returns None, and callers report LPIPS as unavailable (NaN). Images smaller than
  64 pixels are upsampled (bilinear) to 64 first: at 32x32 AlexNet's last three feature maps are 1x1,
  so LPIPS would hardly see spatial structure; at 64 they are 3x3.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

LPIPS_WEIGHTS_ENV = "HYPERSIREN_LPIPS_WEIGHTS"
LPIPS_MIN_SIZE = 64
_ALEX_CONVS = [("slice1", 0), ("slice2", 3), ("slice3", 6), ("slice4", 8), ("slice5", 10)]


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """Model range [-1, 1] -> [0, 1], clipped (the paper clips predictions before its MSE)."""
    return ((images.float() + 1) / 2).clamp(0, 1)


def mse(pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per sample over all channels of the pixels in ``region`` (default: all).

    Args:
        pred, target: ``(B, C, H, W)``.
        region: ``(B, 1, H, W)`` bool, the pixels to average over.

    Returns:
        ``(B,)``; NaN for a sample whose region is empty.
    """
    err = (pred.float() - target.float()).square()  # (B, C, H, W)
    if region is None:
        return err.flatten(1).mean(1)
    weight = region.expand_as(err).float()
    return (err * weight).flatten(1).sum(1) / weight.flatten(1).sum(1)  # 0 / 0 = NaN on an empty region


def psnr_from_mse(err: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """``10 log10(data_range^2 / mse)`` elementwise; +inf where the MSE is 0."""
    return 10 * torch.log10(data_range**2 / err)


def psnr(
    pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None, data_range: float = 1.0
) -> torch.Tensor:
    """PSNR in dB per sample (from :func:`mse`; +inf for identical images, NaN for an empty region).

    Returns:
        ``(B,)``.
    """
    return psnr_from_mse(mse(pred, target, region), data_range)


def _gaussian_band(n: int, size: int, sigma: float, device: torch.device) -> torch.Tensor:
    """``(n, n - size + 1)`` banded matrix: ``t @ band`` is a valid 1-D Gaussian filter along the last axis."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    band = torch.zeros(n, n - size + 1, dtype=torch.float64)
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


def _quiet_lpips(**kwargs) -> nn.Module:
    import lpips

    # lpips prints its set-up and torchvision warns about `pretrained=`; neither belongs in a library.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return lpips.LPIPS(net="alex", verbose=False, **kwargs)


def _load_backbone(model: nn.Module, path: Path) -> None:
    """Copy AlexNet conv weights (torchvision names ``features.{i}.weight``) from ``.npz`` or ``.pth``."""
    if path.suffix == ".npz":
        import numpy as np

        with np.load(path) as arrays:
            state = {k: torch.from_numpy(arrays[k]) for k in arrays.files}
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for slice_name, idx in _ALEX_CONVS:
        conv = getattr(model.net, slice_name)._modules[str(idx)]
        for name in ("weight", "bias"):
            value = state[f"features.{idx}.{name}"]
            getattr(conv, name).data.copy_(value.reshape(getattr(conv, name).shape))


def random_lpips() -> nn.Module:
    """LPIPS with a randomly initialised AlexNet (no weights needed): for tests of the plumbing only."""
    return _quiet_lpips(pnet_rand=True).eval()


def load_lpips(weights: str | Path | None = None, allow_download: bool = True) -> nn.Module | None:
    """LPIPS (AlexNet, v0.1) in eval mode, or None (with a logged warning) when it cannot be had.

    Args:
        weights: an offline AlexNet backbone: ``.npz`` or a torchvision ``.pth`` state dict with keys
            ``features.{0,3,6,8,10}.{weight,bias}``. Default: ``$HYPERSIREN_LPIPS_WEIGHTS``, then
            torchvision's cache (downloading when ``allow_download``).
    """
    source = weights or os.environ.get(LPIPS_WEIGHTS_ENV) or None
    try:
        if source is not None:
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"LPIPS weights file not found: {path}")
            model = _quiet_lpips(pnet_rand=True)
            _load_backbone(model, path)
        else:
            if not allow_download:
                from torch.hub import get_dir

                cached = Path(get_dir()) / "checkpoints" / "alexnet-owt-7be5be79.pth"
                if not cached.is_file():
                    raise FileNotFoundError(f"no AlexNet weights in torchvision's cache ({cached})")
            model = _quiet_lpips()
    except Exception as err:  # noqa: BLE001 - any failure means "LPIPS unavailable", never a failed run
        logger.warning(
            "LPIPS unavailable (%s: %s); pass an AlexNet weights file (.npz/.pth) or set %s. Reporting NaN.",
            type(err).__name__,
            err,
            LPIPS_WEIGHTS_ENV,
        )
        return None
    return model.eval().requires_grad_(False)


@torch.no_grad()
def lpips_distance(
    model: nn.Module | None, pred: torch.Tensor, target: torch.Tensor, min_size: int = LPIPS_MIN_SIZE
) -> torch.Tensor:
    """LPIPS per sample on [0, 1] images, upsampled (bilinear) so the shorter side is ``min_size``.

    Args:
        model: from :func:`load_lpips`; None gives NaN (LPIPS unavailable).
        pred, target: ``(B, 3, H, W)`` on [0, 1] (one channel is repeated to three).

    Returns:
        ``(B,)``, 0 for identical images; NaN without a model.
    """
    if model is None:
        return torch.full((pred.shape[0],), math.nan)
    x, y = pred.float() * 2 - 1, target.float() * 2 - 1  # lpips expects [-1, 1]
    if x.shape[1] == 1:
        x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
    short = min(x.shape[-2:])
    if short < min_size:
        size = [round(s * min_size / short) for s in x.shape[-2:]]
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
    device = next(model.parameters()).device
    return model(x.to(device), y.to(device)).flatten().float().cpu()


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
