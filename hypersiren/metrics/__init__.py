"""Per-sample metrics, the package's one vocabulary for them: MSE, PSNR, SSIM and LPIPS.

- :mod:`~hypersiren.metrics.image`: MSE / PSNR (over a region), SSIM, the inpainting metrics of a batch.
- :mod:`~hypersiren.metrics.perceptual`: LPIPS (AlexNet v0.1) with offline weights.
- :mod:`~hypersiren.metrics.samples`: K samples of a sampling prior: PSNR (each, best-of-K, of the mean), CRPS,
  coverage, diversity (pairwise LPIPS), an uncertainty map.
- :mod:`~hypersiren.metrics.frechet`: the Fréchet distance between AlexNet (LPIPS backbone, relu5) features.

May import: utils.
"""

from hypersiren.metrics.frechet import alexnet_features, frechet_alexnet, frechet_distance
from hypersiren.metrics.image import inpainting_metrics, mse, psnr, ssim, to_unit
from hypersiren.metrics.perceptual import load_lpips, lpips_distance
from hypersiren.metrics.samples import (
    best_of_k_curve,
    best_of_k_psnr,
    coverage,
    crps,
    diversity,
    mae,
    mean_completion,
    mean_psnr,
    sample_psnr,
    uncertainty,
)

__all__ = [
    "alexnet_features",
    "best_of_k_curve",
    "best_of_k_psnr",
    "coverage",
    "crps",
    "diversity",
    "frechet_alexnet",
    "frechet_distance",
    "inpainting_metrics",
    "load_lpips",
    "lpips_distance",
    "mae",
    "mean_completion",
    "mean_psnr",
    "mse",
    "psnr",
    "sample_psnr",
    "ssim",
    "to_unit",
    "uncertainty",
]


def __getattr__(name: str) -> object:  # the names of the 0.1 module of this name, for one release
    from hypersiren._moved import old_name

    return old_name(__name__, name)
