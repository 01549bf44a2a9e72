"""Per-sample metrics, the package's one vocabulary for them: MSE, PSNR, SSIM and LPIPS.

- :mod:`~hypersiren.metrics.image`: MSE / PSNR (over a region), SSIM, the inpainting metrics of a batch.
- :mod:`~hypersiren.metrics.perceptual`: LPIPS (AlexNet v0.1) with offline weights.

May import: utils.
"""

from hypersiren.metrics.image import inpainting_metrics, mse, psnr, ssim, to_unit
from hypersiren.metrics.perceptual import load_lpips, lpips_distance

__all__ = ["inpainting_metrics", "load_lpips", "lpips_distance", "mse", "psnr", "ssim", "to_unit"]


def __getattr__(name: str) -> object:  # the names of the 0.1 module of this name, for one release
    from hypersiren._moved import old_name

    return old_name(__name__, name)
