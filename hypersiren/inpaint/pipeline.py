"""Inpainting with a HyperSiren, or a classical fill, and measuring it (SIREN Sec. 4.4, Table 2).

- :func:`settings`: what an evaluation runs: one mask kind, or the paper's protocol (context 10, 100 and 1000
  pixels, the top half, everything observed), beside the paper's numbers (:data:`PAPER`).
- :func:`evaluate`: per-image metrics (:func:`hypersiren.metrics.inpainting_metrics`) of a data set under one
  setting's masks, batch by batch, and the first images for a figure. The model runs its one forward path
  (``model(context, observed, chunk=..., encoder_dtype=...)``); a test-time refinement
  (:mod:`hypersiren.prior.refine`) is reported beside it under ``refined_*`` keys.

The model never sees a missing pixel: it is given ``context``, the image with zeros where nothing is observed.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from hypersiren.data.images import to_model_range
from hypersiren.inpaint import classical
from hypersiren.inpaint.nearest_faces import NearestFaces
from hypersiren.metrics.image import hires_metrics, inpainting_metrics
from hypersiren.prior.latent import Generated
from hypersiren.prior.model import HyperSiren, paste_observed
from hypersiren.prior.refine import refine
from hypersiren.utils import seeds

# Table 2 of the paper (MSE on [0, 1], CelebA 32x32 test split); CNP verified in Garnelo et al. 2018.
PAPER = {
    "10": {"SIREN CNN+HN": 0.033, "CNP": 0.039, "SIREN set+HN": 0.035},
    "100": {"SIREN CNN+HN": 0.009, "CNP": 0.016, "SIREN set+HN": 0.013},
    "1000": {"SIREN CNN+HN": 0.008, "CNP": 0.009, "SIREN set+HN": 0.009},
}
HOLE_COLOUR = (115, 140, 191)  # missing pixels in every "observed" picture: figures, PNGs, the demo page


class Setting(NamedTuple):
    """One evaluation: its key in ``metrics.json``, a :data:`hypersiren.masks.KINDS` kind and its context count."""

    key: str
    kind: str
    num_context: int | None = None


class RefineOptions(NamedTuple):
    """The arguments of :func:`hypersiren.prior.refine.refine` (``steps`` 0: no refinement)."""

    steps: int = 0
    lr: float = 1e-2
    weights: bool = False
    anchor: float = 0.0
    holdout: float = 0.0


NO_REFINEMENT = RefineOptions()


class Evaluation(NamedTuple):
    """What :func:`evaluate` returns.

    Attributes:
        per_image: metric name -> ``(N,)`` (refined ones prefixed ``refined_``).
        shown: the first images: ``truth``, ``context`` ``(n, C, S, S)`` and ``observed`` ``(n, 1, S, S)``, the
            completions ``inpainted`` (observed pixels kept) and with ``render_size`` ``rendered`` ``(n, C, R, R)``
            (each also ``refined_*``).
    """

    per_image: dict[str, torch.Tensor]
    shown: dict[str, torch.Tensor]


def settings(
    protocol: str | None, mask: str, num_context: int, context_sampling: str = "bernoulli", image_size: int = 32
) -> list[Setting]:
    """The evaluations to run.

    Args:
        protocol: ``paper`` (context 10 / 100 / 1000, ``half``, ``full``), ``scaled`` (the counts times
            ``image_size^2 / 32^2``), or None: the one ``mask`` (with ``num_context`` for random kinds).
        context_sampling: the protocol's context: ``bernoulli`` (p = N / (H W), the official CNN test) or
            ``exact`` (exactly N pixels, the CNP protocol).
    """
    if protocol in ("paper", "scaled"):
        kind = "bernoulli" if context_sampling == "bernoulli" else "random"
        factor = image_size**2 // 1024 if protocol == "scaled" else 1
        counts = [Setting(str(n * factor), kind, n * factor) for n in (10, 100, 1000)]
        return [*counts, Setting("half", "half"), Setting("full", "full")]
    if mask in ("random", "bernoulli"):
        return [Setting(f"{mask}_{num_context}", mask, num_context)]
    return [Setting(mask, mask)]


def complete(
    model: HyperSiren | NearestFaces | None,
    context: torch.Tensor,
    observed: torch.Tensor,
    *,
    method: str = "model",
    chunk: int | None = None,
    encoder_dtype: torch.dtype | None = None,
    render_dtype: torch.dtype | None = None,
    refine_options: RefineOptions = NO_REFINEMENT,
    generator: torch.Generator | None = None,
) -> tuple[dict[str, tuple[torch.Tensor, Generated | None]], dict[str, torch.Tensor]]:
    """One batch completed: ``{"": (raw, generated)}``, plus ``"refined_"`` with a refinement; and per-image extras.

    ``raw`` ``(B, C, H, W)`` is the model's output, not clamped (for a classical ``method``, the filled image and
    no SIRENs). ``generator`` draws the refinement's held-out pixels. The extras, ``(B,)`` each, are the
    refinement's selection loss before and after (:class:`hypersiren.prior.refine.RefineResult`): with a hold-out,
    the MSE over the held-out observed pixels, which needs no ground truth.
    """
    if model is None:
        return {"": (classical.fill(context, observed, method), None)}, {}
    if isinstance(model, NearestFaces):  # the classical sampler's point forecast: no SIRENs
        return {"": (model.inpaint(context, observed), None)}, {}
    with torch.inference_mode():
        out = model(context, observed, chunk=chunk, encoder_dtype=encoder_dtype, render_dtype=render_dtype)
    outputs, extras = {"": (out.images, out.generated)}, {}
    r = refine_options
    if r.steps > 0:
        refined = refine(
            model,
            context,
            observed,
            r.steps,
            r.lr,
            r.weights,
            latent=out.latent,
            anchor=r.anchor,
            holdout=r.holdout,
            generator=generator,
        )
        outputs["refined_"] = (refined.images, refined.generated)
        extras = {"refine_selection_before": refined.loss_before, "refine_selection_after": refined.loss_after}
    return outputs, extras


def evaluate(
    images: torch.Tensor,
    observed: torch.Tensor,
    model: HyperSiren | NearestFaces | None = None,
    *,
    method: str = "model",
    batch_size: int = 256,
    chunk: int | None = 8,
    encoder_dtype: torch.dtype | None = None,
    render_dtype: torch.dtype | None = None,
    refine_options: RefineOptions = NO_REFINEMENT,
    seed: int = 0,
    render_size: int | None = None,
    lpips_model: torch.nn.Module | None = None,
    device: str | torch.device = "cpu",
    num_shown: int = 8,
    hires: torch.Tensor | None = None,
) -> Evaluation:
    """Per-image metrics of every image under its mask, batch by batch (the results do not depend on the batch).

    Args:
        images: ``(N, C, S, S)`` uint8.
        observed: ``(N, 1, S, S)`` bool.
        model: the prior; the nearest training faces (their mean stands for the output); None for a classical
            ``method``, whose fill then stands for the model's output.
        chunk, encoder_dtype, render_dtype: see :meth:`hypersiren.HyperSiren.forward`.
        seed: with the batch's first index, seeds the refinement's held-out pixels.
        render_size: also render the shown images' SIRENs at this side.
        lpips_model: from :func:`hypersiren.metrics.perceptual.load_lpips`; None reports LPIPS as NaN.
        hires: ``(N, C, S', S')`` uint8, the same faces at a larger side: each SIREN is also rendered there and
            scored against them, beside bicubic upsampling of the completion (:func:`hypersiren.metrics.image.
            hires_metrics`: every pixel, the hole, the ring at its border).
    """
    per_image: dict[str, list[torch.Tensor]] = {}
    shown: dict[str, list[torch.Tensor]] = {}
    for start in tqdm(range(0, len(images), batch_size), desc="batches", unit="batch", leave=False):
        x = to_model_range(images[start : start + batch_size]).to(device)  # (B, C, S, S)
        obs = observed[start : start + batch_size].to(device)  # (B, 1, S, S)
        context = torch.where(obs, x, torch.zeros_like(x))
        outputs, extras = complete(
            model,
            context,
            obs,
            method=method,
            chunk=chunk,
            encoder_dtype=encoder_dtype,
            render_dtype=render_dtype,
            refine_options=refine_options,
            generator=seeds.generator(seed, start),
        )
        for name, value in extras.items():
            per_image.setdefault(name, []).append(value.detach().cpu())
        k = max(0, num_shown - start)  # how many of this batch the figure shows
        for prefix, (raw, generated) in outputs.items():
            filled = paste_observed(raw, x, obs)
            values = inpainting_metrics(raw, filled, x, obs, lpips_model)
            if hires is not None and generated is not None:
                truth = to_model_range(hires[start : start + batch_size]).to(device)  # (B, C, S', S')
                with torch.inference_mode():
                    rendered = model.decode(generated, *truth.shape[-2:], chunk=chunk).clamp(-1, 1)
                values.update(hires_metrics(rendered, filled, truth, obs))
            for name, value in values.items():
                per_image.setdefault(prefix + name, []).append(value.cpu())
            if k:
                shown.setdefault(prefix + "inpainted", []).append(filled[:k].cpu())
            if k and render_size:
                with torch.inference_mode():
                    large = model.decode(generated.take(0, k), render_size, render_size, chunk=1).clamp(-1, 1)
                shown.setdefault(prefix + "rendered", []).append(large.cpu())
        if k:
            for name, value in (("truth", x), ("context", context), ("observed", obs)):
                shown.setdefault(name, []).append(value[:k].cpu())
    return Evaluation({k: torch.cat(v) for k, v in per_image.items()}, {k: torch.cat(v) for k, v in shown.items()})
