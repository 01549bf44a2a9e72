"""The demo page's completion request, callable without Gradio (the page, tests, ``bench/demo_request.py``).

:func:`complete` completes a picture where it is painted (or under a preset hole) through the same square and
resize as ``eval/inpaint.py --image`` (:func:`hypersiren.inpaint.picture.load_picture`: the centred square, the
square around the hole, or a face framed as CelebA's), and gives the picture back at its own size with the hole
filled by the same SIREN (:func:`hypersiren.inpaint.picture_completion.complete_picture`); :func:`respond` is the
button's handler around it (the page's API endpoint ``/complete``). What it shares with the sampling request (the
picture and hole, :class:`~hypersiren.app.page_input.DemoError`) is :mod:`hypersiren.app.page_input`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hypersiren.app.page_input import attempt, image_of, picture_and_hole, save_png
from hypersiren.app.uploads import LIMITS, Limits
from hypersiren.inpaint.composite import BAND
from hypersiren.inpaint.picture_completion import complete_picture, picture_psnr, scored_missing
from hypersiren.inpaint.pipeline import RefineOptions
from hypersiren.metrics.image import psnr, to_unit
from hypersiren.prior.model import HyperSiren


class DemoResult(NamedTuple):
    """One completed request.

    Attributes:
        picture: ``(H, W, 3)`` uint8, the picture at its own size with the hole completed (refined if asked): every
            pixel beyond a band of a few pixels around the hole as it came in.
        observed: ``(S, S, 3)`` uint8, the model's square with the hole coloured.
        completed: ``(S, S, 3)`` uint8, the completion on the model's grid (observed pixels kept; refined if asked).
        rendered: ``(R, R, 3)`` uint8, the same SIREN rendered at ``R = scale * S``.
        psnr_hole: PSNR in dB over the model's missing pixels against the square itself (its own ground truth).
        picture_psnr_hole: the same over the picture's missing pixels, at its own size.
        num_missing: missing pixels on the model's grid.
        picture_missing: missing pixels of the picture.
        seconds: the request's wall time.
        notes: what the user should know (the square, the alignment, a mask partly outside, refinement).
    """

    picture: np.ndarray
    observed: np.ndarray
    completed: np.ndarray
    rendered: np.ndarray
    psnr_hole: float
    picture_psnr_hole: float
    num_missing: int
    picture_missing: int
    seconds: float
    notes: list[str]


def complete(
    model: HyperSiren,
    picture: Any,
    layers: Sequence[Any] = (),
    hole: str = "painted",
    center_frac: float = 0.5,
    num_context: int = 100,
    scale: int = 8,
    refine_steps: int = 0,
    refine_lr: float = 1e-3,
    seed: int = 0,
    align: bool = True,
    band: int = BAND,
    limits: Limits = LIMITS,
) -> DemoResult:
    """The page's request: complete ``picture`` where it is painted (or under a preset hole).

    Args:
        model: the prior.
        picture: the picture (path, PIL image or uint8 array), any size and mode.
        layers: the painted layers (paths, PIL images or RGBA arrays of the picture's size); their alpha is
            the hole when ``hole`` is ``"painted"``.
        hole: ``"painted"`` or a :mod:`hypersiren.masks.kinds` kind on the model's grid (``center``, ``half_*``,
            ``random``).
        center_frac: side of the ``center`` hole / the model's side.
        num_context: observed pixels for ``random``.
        scale: the larger rendering's side / the model's side.
        refine_steps: test-time Adam steps on the observed pixels (then the picture, the completion and the larger
            rendering show the refined SIREN).
        refine_lr: their learning rate.
        seed: seeds the ``random`` preset.
        align: frame a face as CelebA's faces are (OpenCV; without it, or without a face, a note says so).
        band: the blend around the hole in the picture, in pixels.
        limits: the page's :class:`~hypersiren.app.uploads.Limits`: a picture (and its layers) larger than
            ``max_side`` is completed, and given back, reduced to it (a note says so).

    Raises:
        DemoError: no picture, an unreadable, empty, damaged, too large or too small picture or layer, nothing
            painted, a hole that is empty on the model's grid or covers everything, a bad preset parameter.
    """
    t0 = time.perf_counter()
    size = model.config.image_size
    loaded, observed, notes, blend = picture_and_hole(
        model, picture, layers, hole, center_frac, num_context, seed, align, limits
    )
    refine = RefineOptions(int(refine_steps), refine_lr)
    done = complete_picture(model, loaded, observed, scale * size, refine, band, blend)
    refined = done.refined is not None
    completed = done.refined if refined else done.completed  # (1, 3, S, S), observed pixels kept
    rendered = done.refined_rendered if refined else done.rendered
    full = done.refined_picture if refined else done.picture  # (H, W, 3) uint8
    if refined:
        notes.append(f"Refined for {int(refine_steps)} steps on the observed pixels (every picture).")
    missing = scored_missing(done, loaded)
    psnr_hole = psnr(to_unit(completed), to_unit(done.image), missing).item()
    return DemoResult(
        full,
        image_of(done.shown),
        image_of(completed),
        image_of(rendered),
        psnr_hole,
        picture_psnr(full, loaded, done.hole),
        int(missing.sum()),
        int(done.hole.sum()),
        time.perf_counter() - t0,
        notes,
    )


def respond(
    model: HyperSiren | None,
    model_line: str,
    value: dict | None,
    hole: str = "painted",
    center_frac: float = 0.5,
    num_context: int = 100,
    scale: int | str = 8,
    refine_steps: int = 0,
    align: bool = True,
    limits: Limits = LIMITS,
) -> tuple[str, np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None, list[str] | None]:
    """The button's handler (the page's API endpoint ``/complete``): :func:`complete` on the editor's value, or a
    message instead of the results.

    Args:
        model: the prior, or None when it could not be loaded (``model_line`` says why).
        value: the editor's value, ``{"background": picture, "layers": [...], "composite": ...}``.
        scale: ``2``, ``4`` or ``8`` (the page's radio sends it as a string).
        limits: the page's :class:`~hypersiren.app.uploads.Limits`.

    Returns:
        ``(status markdown, picture, observed, completed, rendered, files to download)``; on bad input the message
        and Nones, never a traceback.
    """
    value = value or {}
    r, message = attempt(
        "complete",
        model,
        model_line,
        lambda: complete(
            model,
            value.get("background"),
            value.get("layers") or (),
            hole,
            center_frac,
            num_context,
            int(scale),
            int(refine_steps),
            align=bool(align),
            limits=limits,
        ),
    )
    if r is None:
        return message, None, None, None, None, None
    size, (height, width) = r.completed.shape[0], r.picture.shape[:2]
    folder = Path(tempfile.mkdtemp(prefix="hypersiren-demo-"))
    files = [
        save_png(r.picture, folder, f"completed_{width}x{height}.png"),
        save_png(r.completed, folder, f"completed_{size}.png"),
        save_png(r.rendered, folder, f"rendered_{r.rendered.shape[0]}.png"),
    ]
    lines = [
        f"Completed {r.picture_missing} missing pixels of the {width}x{height} picture ({r.num_missing} of the "
        f"model's {size}x{size} square) in **{r.seconds:.2f} s**; PSNR over the hole, against the picture "
        f"itself: **{r.picture_psnr_hole:.2f} dB** ({r.psnr_hole:.2f} dB on the model's grid).",
        *r.notes,
    ]
    return "\n\n".join(lines), r.picture, r.observed, r.completed, r.rendered, [str(f) for f in files]
