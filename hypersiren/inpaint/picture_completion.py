"""A picture completed at its own size (reading it is :mod:`hypersiren.inpaint.picture`): its mean completion
(:func:`complete_picture`) or K draws of the sampler (:func:`sample_picture`), each on the model's grid, rendered
larger, and at the picture's own size (the SIREN at the picture's own pixels in the hole,
:mod:`hypersiren.inpaint.composite`); ``eval/inpaint.py --image``, the demo page.

The model never sees a missing pixel: it is given ``context``, the image with zeros where nothing is observed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from hypersiren.data.images import to_model_range
from hypersiren.inpaint import composite
from hypersiren.inpaint.picture import Picture
from hypersiren.inpaint.pipeline import HOLE_COLOUR, NO_REFINEMENT, RefineOptions
from hypersiren.metrics import samples as sm
from hypersiren.metrics.image import psnr
from hypersiren.prior.model import HyperSiren, paste_observed
from hypersiren.prior.refine import refine


class PictureCompletion(NamedTuple):
    """One picture completed by :func:`complete_picture`; every model-grid image ``(1, C, ...)`` on [-1, 1].

    Attributes:
        image: the model's square of the picture (its own ground truth), ``(1, C, S, S)``.
        observed: ``(1, 1, S, S)`` bool.
        shown: the square with its missing pixels in :data:`HOLE_COLOUR`.
        raw: the model's output, not clamped (for the paper's all-pixel MSE).
        completed: the completion, observed pixels kept.
        rendered: the same SIREN at ``render_size``, ``(1, C, R, R)``.
        refined: the refined completion (observed pixels kept), or None.
        refined_rendered: the refined SIREN at ``render_size``, or None.
        picture: ``(H, W, C)`` uint8, the picture at its own size with its hole completed (the SIREN at the
            picture's pixels, blended into a band around the hole; every other pixel the picture's own); None
            when only the square was given.
        refined_picture: the same with the refined SIREN, or None.
        hole: ``(H, W)`` bool, the picture's pixels completed (the band around them is blended), or None.
    """

    image: torch.Tensor
    observed: torch.Tensor
    shown: torch.Tensor
    raw: torch.Tensor
    completed: torch.Tensor
    rendered: torch.Tensor
    refined: torch.Tensor | None
    refined_rendered: torch.Tensor | None = None
    picture: np.ndarray | None = None
    refined_picture: np.ndarray | None = None
    hole: np.ndarray | None = None


def complete_picture(
    model: HyperSiren,
    picture: Picture | torch.Tensor,
    observed: torch.Tensor | None = None,
    render_size: int | None = None,
    refine_options: RefineOptions = NO_REFINEMENT,
    band: int = composite.BAND,
    blend: str = composite.BLEND,
) -> PictureCompletion:
    """Complete one picture: on the model's grid, rendered at ``render_size``, and at its own size; one encoder pass.

    Args:
        picture: a :class:`hypersiren.inpaint.picture.Picture`, or only its square, ``(C, S, S)`` uint8 (then no
            picture at its own size comes back).
        observed: ``(1, S, S)`` or ``(1, 1, S, S)`` bool, a hole on the model's grid (a preset): in the picture, the
            pixels that fall in its missing model pixels are completed. None: the picture's own mask, whose marked
            pixels are completed.
        render_size: the larger rendering's side (default: 8 times the model's).
        band: the pixels within this distance of the hole in the picture are blended (every other pixel beyond the
            hole is the picture's own); 0: only the hole changes.
        blend: how the completion meets the picture (:data:`composite.BLENDS`): ``poisson``, gradient-domain
            (:func:`hypersiren.inpaint.blend.poisson_blend`), or ``linear``, a fade across the band
            (:func:`hypersiren.inpaint.blend.blend_weights`).

    Raises:
        ValueError: neither ``observed`` nor a picture with a mask.
    """
    loaded = picture if isinstance(picture, Picture) else None
    x, obs, context, hole = _model_input(model, loaded.image if loaded is not None else picture, observed, loaded)
    render_size = render_size or 8 * x.shape[-1]
    with torch.inference_mode():
        out = model(context, obs)
        rendered = model.decode(out.generated, render_size, render_size).clamp(-1, 1)  # (1, C, R, R)
    refined = refined_rendered = None
    if refine_options.steps > 0:
        r = refine_options
        result = refine(
            model, context, obs, r.steps, r.lr, r.weights, latent=out.latent, anchor=r.anchor, holdout=r.holdout
        )
        refined = paste_observed(result.images, x, obs)
        with torch.inference_mode():
            refined_rendered = model.decode(result.generated, render_size, render_size).clamp(-1, 1)
    full = refined_full = None
    if loaded is not None:
        full = composite.render_into(model, out.generated, loaded.pixels, loaded.frame, hole, band, blend=blend)
        if refined is not None:
            refined_full = composite.render_into(
                model, result.generated, loaded.pixels, loaded.frame, hole, band, blend=blend
            )
    colour = torch.tensor(HOLE_COLOUR, dtype=torch.float32, device=x.device)[:, None, None] / 127.5 - 1
    return PictureCompletion(
        x,
        obs,
        torch.where(obs, x, colour),
        out.images,
        paste_observed(out.images, x, obs),
        rendered,
        refined,
        refined_rendered,
        full,
        refined_full,
        hole,
    )


class PictureSamples(NamedTuple):
    """``K`` completions of one picture by :func:`sample_picture`.

    Attributes:
        squares: ``(K, C, S, S)`` on [-1, 1], each a completion on the model's grid (observed pixels kept).
        rendered: ``(K, C, R, R)`` each sample's SIREN at ``render_size``, or None.
        uncertainty: ``(1, S, S)`` the per-pixel standard deviation of the samples on [0, 1].
        pictures: ``K`` ``(H, W, C)`` uint8, the picture at its own size with each sample in its hole.
    """

    squares: torch.Tensor
    rendered: torch.Tensor | None
    uncertainty: torch.Tensor
    pictures: list


def sample_picture(
    model: HyperSiren,
    picture: Picture,
    observed: torch.Tensor | None,
    num_samples: int,
    generator: torch.Generator | None = None,
    render_size: int | None = None,
    band: int = composite.BAND,
    blend: str = composite.BLEND,
) -> PictureSamples:
    """Draw ``num_samples`` completions of one picture: on the model's grid, optionally larger, and at its own size.

    Args:
        picture: from :func:`hypersiren.inpaint.picture.load_picture`.
        observed: a hole on the model's grid (a preset), or None: the picture's own mask.
        generator: the draws' generator; the same one gives the same samples.
        render_size: also render each sample's SIREN at this side.
        band, blend: how each sample meets the picture around the hole (see :func:`complete_picture`).
    """
    x, obs, context, hole = _model_input(model, picture.image, observed, picture)
    generated = model.draw(context, obs, num_samples, generator)  # K SIRENs
    with torch.inference_mode():
        raw = model.decode(generated, *x.shape[-2:])  # (K, C, S, S)
        squares = paste_observed(raw, x.expand_as(raw), obs.expand(len(raw), -1, -1, -1))
        rendered = model.decode(generated, render_size, render_size).clamp(-1, 1) if render_size else None
    pictures = [
        composite.render_into(model, generated.take(i, i + 1), picture.pixels, picture.frame, hole, band, blend=blend)
        for i in range(num_samples)
    ]
    return PictureSamples(
        squares.cpu(), None if rendered is None else rendered.cpu(), sm.uncertainty(squares[None])[0].cpu(), pictures
    )


def scored_missing(done: PictureCompletion, picture: Picture) -> torch.Tensor:
    """The model's missing pixels that lie within the picture, ``(1, 1, S, S)`` bool: a face's square beyond the
    picture's edge has no ground truth there, so those are not scored."""
    return ~done.observed & picture.within.reshape(done.observed.shape).to(done.observed.device)


def picture_psnr(completed: np.ndarray, picture: Picture, hole: np.ndarray) -> float:
    """A completed picture scored against the picture itself (its own ground truth) over its hole at its own size:
    PSNR in dB on [0, 1], NaN without a hole.

    Args:
        completed: ``(H, W, C)`` uint8, the picture with its hole completed.
        hole: ``(H, W)`` bool, the pixels completed.
    """
    if not hole.any():
        return float("nan")
    result, truth = (
        torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None] / 255 for a in (completed, picture.pixels)
    )
    return psnr(result, truth, torch.from_numpy(hole)[None, None]).item()


def _model_input(model: HyperSiren, image: torch.Tensor, observed: torch.Tensor | None, picture: Picture | None):
    """The square on the model's device, its observed pixels, its context, and the picture's pixels to complete.

    Returns:
        ``x`` ``(1, C, S, S)``, ``obs`` ``(1, 1, S, S)`` (the model's pixels beyond the picture unobserved),
        ``context`` (``x`` with zeros where nothing is observed), and the picture's hole ``(H, W)`` bool (None
        without a picture): its own mask, or the preset's missing model pixels on the picture's grid.

    Raises:
        ValueError: neither ``observed`` nor a picture with a mask.
    """
    own = observed is None
    if own and (picture is None or picture.observed is None):
        raise ValueError("no hole: give observed, or a picture loaded with its mask")
    grid_observed = picture.observed if own else observed
    device = next(model.parameters()).device
    x = to_model_range(image.reshape(1, *image.shape[-3:])).to(device)  # (1, C, S, S)
    obs = grid_observed.reshape(1, 1, *x.shape[-2:]).to(device)
    hole = None
    if picture is not None:
        obs = obs & picture.within.reshape(obs.shape).to(device)  # a face's square beyond the edge: not observed
        (width, height), preset = picture.source_size, ~grid_observed.reshape(x.shape[-2:])
        hole = picture.missing if own else composite.hole_from_grid(preset, picture.frame, width, height)
    return x, obs, torch.where(obs, x, torch.zeros_like(x)), hole
