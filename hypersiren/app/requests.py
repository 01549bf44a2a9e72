"""The demo page's request, callable without Gradio (the page, tests, ``bench/demo_request.py``).

:func:`complete` completes a picture where it is painted (or under a preset hole) through the same square and
resize as ``eval/inpaint.py --image`` (:func:`hypersiren.inpaint.picture.load_picture`: the centred square, the
square around the hole, or a face framed as CelebA's), and gives the picture back at its own size with the hole
filled by the same SIREN (:func:`hypersiren.inpaint.photo.complete_picture`); :func:`respond` is the button's
handler around it (the page's API endpoint ``/complete``). Bad input raises :class:`DemoError`, whose message the
page shows in place of the results; :func:`load` turns a model that cannot be loaded into a line for the page.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from math import nan
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch

from hypersiren.app.uploads import LIMITS, Limits, alpha_of, check_side, choose_blend, read_upload, reduction_note
from hypersiren.data.images import DataError, to_uint8
from hypersiren.inpaint.composite import BAND
from hypersiren.inpaint.photo import complete_picture
from hypersiren.inpaint.picture import Picture, check_hole, load_picture
from hypersiren.inpaint.pipeline import RefineOptions
from hypersiren.masks.kinds import MaskError, make_observed
from hypersiren.metrics.image import psnr, to_unit
from hypersiren.prior import pretrained
from hypersiren.prior.model import HyperSiren
from hypersiren.utils import seeds

logger = logging.getLogger(__name__)
T = TypeVar("T")

# (label, kind): "painted" is the brush layer; the others are hypersiren.masks.kinds kinds on the model's grid
HOLES = (
    ("painted with the brush", "painted"),
    ("centre square", "center"),
    ("top half kept", "half_top"),
    ("bottom half kept", "half_bottom"),
    ("left half kept", "half_left"),
    ("right half kept", "half_right"),
    ("N random context pixels", "random"),
)


class DemoError(ValueError):
    """A request that cannot be completed; the message is shown on the page."""


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


def _alpha(layers: Sequence[Any], limits: Limits) -> np.ndarray | None:
    """The union of the painted layers' alpha, ``(H, W)`` uint8 (255 = painted), or None without any layer; each
    layer reduced as the picture is (:func:`~hypersiren.app.uploads.read_upload`)."""
    alpha = None
    for layer in layers:
        if layer is None:
            continue
        a = alpha_of(read_upload(layer, "painted layer", limits))
        if alpha is not None and alpha.shape != a.shape:
            raise DataError(f"the painted layers differ in size: {alpha.shape[::-1]} and {a.shape[::-1]}")
        alpha = a if alpha is None else np.maximum(alpha, a)
    return alpha


def _image(array: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` on [-1, 1] -> ``(H, W, 3)`` uint8."""
    return to_uint8(array[0].cpu()).permute(1, 2, 0).numpy()


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
    loaded, observed, notes, blend = picture_and_hole(model, picture, layers, hole, center_frac, num_context, seed,
                                                      align, limits)  # fmt: skip
    refine = RefineOptions(int(refine_steps), refine_lr)
    done = complete_picture(model, loaded, observed, scale * size, refine, band, blend)
    refined = done.refined is not None
    completed = done.refined if refined else done.completed  # (1, 3, S, S), observed pixels kept
    rendered = done.refined_rendered if refined else done.rendered
    full = done.refined_picture if refined else done.picture  # (H, W, 3) uint8
    if refined:
        notes.append(f"Refined for {int(refine_steps)} steps on the observed pixels (every picture).")
    within = loaded.within.reshape(done.observed.shape).to(done.observed.device)
    missing = ~done.observed & within  # the model's pixels beyond the picture have no ground truth: not scored
    psnr_hole = psnr(to_unit(completed), to_unit(done.image), missing).item()
    truth, result = (torch.from_numpy(a.copy()).permute(2, 0, 1)[None] / 255 for a in (loaded.pixels, full))
    picture_psnr = psnr(result, truth, torch.from_numpy(done.hole)[None, None]).item() if done.hole.any() else nan
    return DemoResult(full, _image(done.shown), _image(completed), _image(rendered), psnr_hole, picture_psnr,
                      int(missing.sum()), int(done.hole.sum()), time.perf_counter() - t0, notes)  # fmt: skip


class Prepared(NamedTuple):
    """A request's picture (read within the page's limits), its hole (None: the painted one; else a preset on the
    model's ``(1, S, S)`` grid), its notes and the blend its hole can afford
    (:func:`~hypersiren.app.uploads.choose_blend`)."""

    picture: Picture
    observed: torch.Tensor | None
    notes: list[str]
    blend: str


def picture_and_hole(model: HyperSiren, picture: Any, layers: Sequence[Any], hole: str, center_frac: float,
                     num_context: int, seed: int, align: bool, limits: Limits = LIMITS,
                     pictures: int = 1) -> Prepared:  # fmt: skip
    """A request's picture and hole (``pictures``: how many completions of it are pasted into the picture)."""
    size = model.config.image_size
    if picture is None:
        raise DemoError("no picture: pick an example or upload one")
    kinds = [kind for _, kind in HOLES]
    if hole not in kinds:
        raise DemoError(f"unknown hole {hole!r}: one of {', '.join(kinds)}")
    try:
        upload = read_upload(picture, "picture", limits)
        check_side(upload, limits)
        observed = None  # the painted hole
        if hole == "painted":
            alpha = _alpha(layers, limits)
            if alpha is None or not alpha.any():
                raise DemoError("nothing painted: paint over what should disappear, or choose a preset hole")
            loaded = load_picture(upload.image, size, missing=alpha, align=align)
            check_hole(loaded.observed)
        else:
            loaded = load_picture(upload.image, size, align=align)
            observed = make_observed(hole, 1, size, size, num_context=int(num_context), center_frac=center_frac,
                                     generator=seeds.generator(seed))  # fmt: skip
            check_hole(observed)
    except (DataError, MaskError) as err:
        raise DemoError(str(err)) from None
    notes = [note[0].upper() + note[1:] + "." for note in loaded.notes]
    if (reduced := reduction_note(upload, limits)) is not None:
        notes.insert(0, reduced)
    if loaded.marked_outside > 0.001:
        notes.append(f"{loaded.marked_outside:.0%} of the painted area lies outside that square and is kept as it was.")
    if observed is None:
        hole_pixels = int(loaded.missing.sum())
    else:  # a preset's missing model pixels, each (side / S)^2 of the picture's
        hole_pixels = round(int((~observed).sum()) * (loaded.frame.side / size) ** 2)
    blend, note = choose_blend(hole_pixels, limits, pictures)
    return Prepared(loaded, observed, notes + [note] * (note is not None), blend)


def load(spec: str | None) -> tuple[HyperSiren | None, str]:
    """The model (or None) and a line for the page: its name, or why it cannot be loaded."""
    spec = spec or pretrained.DEFAULT
    try:
        model = HyperSiren.from_pretrained(spec).eval()
    except Exception as err:  # noqa: BLE001 - any failure (missing, corrupt, Hub unreachable) goes on the page
        return None, f"The model {spec!r} cannot be loaded: {err}"
    size = model.config.image_size
    return model, f"Model: `{spec}` ({size}x{size})."


def attempt(what: str, model: HyperSiren | None, model_line: str, request: Callable[[], T]) -> tuple[T | None, str]:
    """A handler's request, or the message the page shows instead of its results (never a traceback)."""
    if model is None:
        return None, f"**Cannot {what}:** {model_line}"
    try:
        return request(), ""
    except DemoError as err:
        return None, f"**Cannot {what}:** {err}"
    except Exception as err:  # noqa: BLE001 - the page gets a message, the console the traceback
        logger.exception("request failed")
        return None, f"**Cannot {what}:** unexpected {type(err).__name__}: {err}"


def save_png(image: np.ndarray, folder: Path, name: str) -> Path:
    from PIL import Image

    path = folder / name
    Image.fromarray(image).save(path)
    return path


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
    r, message = attempt("complete", model, model_line, lambda: complete(
        model, value.get("background"), value.get("layers") or (), hole, center_frac, num_context, int(scale),
        int(refine_steps), align=bool(align), limits=limits))  # fmt: skip
    if r is None:
        return message, None, None, None, None, None
    size, (height, width) = r.completed.shape[0], r.picture.shape[:2]
    folder = Path(tempfile.mkdtemp(prefix="hypersiren-demo-"))
    files = [save_png(r.picture, folder, f"completed_{width}x{height}.png"),
             save_png(r.completed, folder, f"completed_{size}.png"),
             save_png(r.rendered, folder, f"rendered_{r.rendered.shape[0]}.png")]  # fmt: skip
    lines = [f"Completed {r.picture_missing} missing pixels of the {width}x{height} picture ({r.num_missing} of the "
             f"model's {size}x{size} square) in **{r.seconds:.2f} s**; PSNR over the hole, against the picture "
             f"itself: **{r.picture_psnr_hole:.2f} dB** ({r.psnr_hole:.2f} dB on the model's grid).",
             *r.notes]  # fmt: skip
    return "\n\n".join(lines), r.picture, r.observed, r.completed, r.rendered, [str(f) for f in files]
