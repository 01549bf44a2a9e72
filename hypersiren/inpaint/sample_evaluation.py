"""A sampler's completions (issue 23): K of each face, scored as inpainting papers score samplers; K of a picture.

:func:`evaluate_samples` draws ``K`` completions per face (:meth:`hypersiren.HyperSiren.sample`, seeded by the
batch), beside the mean completion (:meth:`~hypersiren.HyperSiren.inpaint`), and returns per face, over the missing
pixels (:mod:`hypersiren.metrics.samples`): the mean per-sample PSNR, the best-of-K PSNR and the whole best-of-k
curve (averaged over orderings), the PSNR of the samples' mean, the fair CRPS beside the mean completion's MAE
(what CRPS is for a point forecast), the coverage of the samples' central 80% interval, and the mean pairwise
LPIPS between the K completions (diversity). It also keeps each face's first sample and its mean completion for
the Fréchet AlexNet distance to real faces (:mod:`hypersiren.metrics.frechet`), and the first faces' samples and
uncertainty maps for a figure. One picture's draws are :func:`hypersiren.inpaint.picture_completion.sample_picture`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from hypersiren.data.images import to_model_range
from hypersiren.inpaint.nearest_faces import NearestFaces
from hypersiren.metrics import samples as sm
from hypersiren.metrics.image import psnr, to_unit
from hypersiren.prior.model import HyperSiren
from hypersiren.utils import seeds


class SampleEvaluation(NamedTuple):
    """What :func:`evaluate_samples` returns.

    Attributes:
        per_image: metric name -> ``(N,)``; ``best_of_k`` is ``(N, K)``.
        first: ``(N, C, S, S)`` each face's first sample (for the Fréchet distance), on [-1, 1].
        mean: ``(N, C, S, S)`` each face's mean completion, on [-1, 1].
        shown: the first faces: ``truth``, ``observed``, ``mean``, ``samples`` ``(n, K, C, S, S)``, ``uncertainty``
            ``(n, 1, S, S)``.
    """

    per_image: dict[str, torch.Tensor]
    first: torch.Tensor
    mean: torch.Tensor
    shown: dict[str, torch.Tensor]


def draws(
    model: HyperSiren | NearestFaces,
    images: torch.Tensor,
    observed: torch.Tensor,
    num_samples: int,
    generators: list[torch.Generator],
) -> torch.Tensor:
    """``num_samples`` completions of each image ``(B, K, C, S, S)``, each image's from its own generator: a prior's
    sampler (its noise drawn per image), or the nearest training faces."""
    if isinstance(model, NearestFaces):
        return model.sample(images, observed, num_samples, generators)
    side = model.config.image_size
    noise = torch.cat([model.sampler.noise(num_samples, side, g, images.device) for g in generators])
    return model.sample(images, observed, num_samples, noise=noise)


def evaluate_samples(
    images: torch.Tensor,
    observed: torch.Tensor,
    model: HyperSiren | NearestFaces,
    num_samples: int,
    *,
    seed: int = 0,
    batch_size: int = 64,
    lpips_model: torch.nn.Module | None = None,
    device: str | torch.device = "cpu",
    num_shown: int = 6,
    level: float = 0.8,
) -> SampleEvaluation:
    """Score ``num_samples`` completions of every face under its mask (the results do not depend on the batch).

    Args:
        images: ``(N, C, S, S)`` uint8.
        observed: ``(N, 1, S, S)`` bool.
        model: a prior with a sampler, or the classical sampler
            (:class:`~hypersiren.inpaint.nearest_faces.NearestFaces`).
        seed: with each face's index, seeds its draws (the same whatever the batch).
        lpips_model: for the diversity (NaN without).
        level: the central interval whose coverage is reported.
    """
    if num_samples < 2:
        raise ValueError(f"scoring samples needs at least 2 per face (CRPS, coverage, diversity), got {num_samples}")
    per_image: dict[str, list[torch.Tensor]] = {}
    firsts, means, shown = [], [], {}
    for start in tqdm(range(0, len(images), batch_size), desc="samples", unit="batch", leave=False):
        x = to_model_range(images[start : start + batch_size]).to(device)  # (B, C, S, S)
        obs = observed[start : start + batch_size].to(device)
        context = torch.where(obs, x, torch.zeros_like(x))
        # each face's draws from its own generator: they do not depend on the batch
        generators = [seeds.generator(seed, start + i, device=device) for i in range(len(x))]
        drawn = draws(model, context, obs, num_samples, generators)  # (B, K, C, S, S), observed pixels kept
        mean = model.inpaint(context, obs)  # (B, C, S, S)
        hole = ~obs
        values = {
            "sample_psnr": sm.sample_psnr(drawn, x, hole),
            "best_of_k_psnr": sm.best_of_k_psnr(drawn, x, hole),
            "samples_mean_psnr": sm.mean_psnr(drawn, x, hole),
            "mean_psnr": psnr(to_unit(mean), to_unit(x), hole),
            "crps": sm.crps(drawn, x, hole),
            "mean_mae": sm.mae(mean, x, hole),
            "coverage": sm.coverage(drawn, x, hole, level),
            "diversity": sm.diversity(drawn, lpips_model),
            "best_of_k": sm.best_of_k_curve(drawn, x, hole),
        }
        for name, value in values.items():
            per_image.setdefault(name, []).append(value.cpu())
        firsts.append(drawn[:, 0].cpu())
        means.append(mean.cpu())
        k = max(0, num_shown - start)
        if k:
            for name, value in (
                ("truth", x),
                ("observed", obs),
                ("mean", mean),
                ("samples", drawn),
                ("uncertainty", sm.uncertainty(drawn)),
            ):
                shown.setdefault(name, []).append(value[:k].cpu())
    return SampleEvaluation(
        {k: torch.cat(v) for k, v in per_image.items()},
        torch.cat(firsts),
        torch.cat(means),
        {k: torch.cat(v) for k, v in shown.items()},
    )
