"""A sampler's completions (issue 23): K of each face, scored as inpainting papers score samplers; K of a picture.

:func:`evaluate_samples` draws ``K`` completions per face (:meth:`hypersiren.HyperSiren.sample`, seeded by the
batch), beside the mean completion (:meth:`~hypersiren.HyperSiren.inpaint`), and returns per face, over the missing
pixels (:mod:`hypersiren.metrics.samples`): the mean per-sample PSNR, the best-of-K PSNR and the whole best-of-k
curve (averaged over orderings), the PSNR of the samples' mean, the fair CRPS beside the mean completion's MAE
(what CRPS is for a point forecast), the coverage of the samples' central 80% interval, and the mean pairwise
LPIPS between the K completions (diversity). It also keeps each face's first sample and its mean completion for
the Fréchet AlexNet distance to real faces (:mod:`hypersiren.metrics.frechet`), and the first faces' samples and
uncertainty maps for a figure. :func:`sample_picture` draws K completions of one picture, at the model's side,
larger, and at the picture's own size (as :func:`hypersiren.inpaint.pipeline.complete_picture` completes it).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from hypersiren.data.images import to_model_range
from hypersiren.inpaint import composite
from hypersiren.inpaint.picture import Picture
from hypersiren.metrics import samples as sm
from hypersiren.metrics.image import psnr, to_unit
from hypersiren.prior.model import HyperSiren, paste_observed
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


def evaluate_samples(
    images: torch.Tensor,
    observed: torch.Tensor,
    model: HyperSiren,
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
        model: a prior with a sampler.
        seed: with the batch's first index, seeds the draws.
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
        gen = seeds.generator(seed, start, device=device)
        draws = model.sample(context, obs, num_samples, gen)  # (B, K, C, S, S), observed pixels kept
        mean = model.inpaint(context, obs)  # (B, C, S, S)
        hole = ~obs
        values = {
            "sample_psnr": sm.sample_psnr(draws, x, hole),
            "best_of_k_psnr": sm.best_of_k_psnr(draws, x, hole),
            "samples_mean_psnr": sm.mean_psnr(draws, x, hole),
            "mean_psnr": psnr(to_unit(mean), to_unit(x), hole),
            "crps": sm.crps(draws, x, hole),
            "mean_mae": sm.mae(mean, x, hole),
            "coverage": sm.coverage(draws, x, hole, level),
            "diversity": sm.diversity(draws, lpips_model),
            "best_of_k": sm.best_of_k_curve(draws, x, hole),
        }
        for name, value in values.items():
            per_image.setdefault(name, []).append(value.cpu())
        firsts.append(draws[:, 0].cpu())
        means.append(mean.cpu())
        k = max(0, num_shown - start)
        if k:
            for name, value in (("truth", x), ("observed", obs), ("mean", mean), ("samples", draws),
                                ("uncertainty", sm.uncertainty(draws))):  # fmt: skip
                shown.setdefault(name, []).append(value[:k].cpu())
    return SampleEvaluation({k: torch.cat(v) for k, v in per_image.items()}, torch.cat(firsts), torch.cat(means),
                            {k: torch.cat(v) for k, v in shown.items()})  # fmt: skip


class PictureSamples(NamedTuple):
    """``K`` completions of one picture by :func:`sample_picture`.

    Attributes:
        squares: ``(K, C, S, S)`` on [-1, 1], each a completion on the model's grid (observed pixels kept).
        rendered: ``(K, C, R, R)`` each sample's SIREN at ``render_size``, or None.
        uncertainty: ``(1, S, S)`` the per-pixel standard deviation of the samples on [0, 1].
        pictures: ``K`` ``(H, W, C)`` uint8, the picture at its own size with each sample in its hole, or None when
            only the square was given.
    """

    squares: torch.Tensor
    rendered: torch.Tensor | None
    uncertainty: torch.Tensor
    pictures: list | None


def sample_picture(
    model: HyperSiren,
    picture: Picture,
    observed: torch.Tensor | None,
    num_samples: int,
    generator: torch.Generator | None = None,
    render_size: int | None = None,
    band: int = composite.BAND,
) -> PictureSamples:
    """Draw ``num_samples`` completions of one picture: on the model's grid, optionally larger, and at its own size.

    Args:
        picture: from :func:`hypersiren.inpaint.picture.load_picture`.
        observed: a hole on the model's grid (a preset), or None: the picture's own mask.
        generator: the draws' generator; the same one gives the same samples.
        render_size: also render each sample's SIREN at this side.
        band: the blend around the hole in the picture, in pixels.
    """
    own = observed is None
    if own and picture.observed is None:
        raise ValueError("no hole: give observed, or a picture loaded with its mask")
    grid_observed = picture.observed if own else observed
    device = next(model.parameters()).device
    x = to_model_range(picture.image[None]).to(device)  # (1, C, S, S)
    obs = grid_observed.reshape(1, 1, *x.shape[-2:]).to(device) & picture.within.reshape(1, 1, *x.shape[-2:]).to(device)
    context = torch.where(obs, x, torch.zeros_like(x))
    generated = model.draw(context, obs, num_samples, generator)  # K SIRENs
    with torch.inference_mode():
        raw = model.decode(generated, *x.shape[-2:])  # (K, C, S, S)
        squares = paste_observed(raw, x.expand_as(raw), obs.expand(len(raw), -1, -1, -1))
        rendered = model.decode(generated, render_size, render_size).clamp(-1, 1) if render_size else None
    pictures = None
    if picture.pixels is not None:
        (width, height), frame = picture.source_size, picture.frame
        hole = picture.missing if own else composite.hole_from_grid(~grid_observed.reshape(x.shape[-2:]), frame,
                                                                     width, height)  # fmt: skip
        pictures = [composite.render_into(model, generated.take(i, i + 1), picture.pixels, frame, hole, band)
                    for i in range(num_samples)]  # fmt: skip
    return PictureSamples(squares.cpu(), None if rendered is None else rendered.cpu(),
                          sm.uncertainty(squares[None])[0].cpu(), pictures)  # fmt: skip
