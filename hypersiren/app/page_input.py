"""What a request of the demo page reads and shares: the picture and its hole, read within the page's limits
(:func:`picture_and_hole`), the hole presets (:data:`HOLES`), the page's own error (:class:`DemoError`) and how a
handler turns any failure into a message (:func:`attempt`), the model loaded for the page (:func:`load`), a PNG for
download (:func:`save_png`). The completion request is :mod:`hypersiren.app.complete_request`, the sampling request
:mod:`hypersiren.app.sample_request`; each imports this, never the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch

from hypersiren.app.uploads import LIMITS, Limits, alpha_of, check_side, choose_blend, read_upload, reduction_note
from hypersiren.data.images import DataError, to_uint8
from hypersiren.inpaint.picture import Picture, check_hole, load_picture
from hypersiren.masks.kinds import MaskError, make_observed
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


def image_of(array: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` on [-1, 1] -> ``(H, W, 3)`` uint8."""
    return to_uint8(array[0].cpu()).permute(1, 2, 0).numpy()


class Prepared(NamedTuple):
    """A request's picture (read within the page's limits), its hole (None: the painted one; else a preset on the
    model's ``(1, S, S)`` grid), its notes and the blend its hole can afford
    (:func:`~hypersiren.app.uploads.choose_blend`)."""

    picture: Picture
    observed: torch.Tensor | None
    notes: list[str]
    blend: str


def picture_and_hole(
    model: HyperSiren,
    picture: Any,
    layers: Sequence[Any],
    hole: str,
    center_frac: float,
    num_context: int,
    seed: int,
    align: bool,
    limits: Limits = LIMITS,
    pictures: int = 1,
) -> Prepared:
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
            observed = make_observed(
                hole,
                1,
                size,
                size,
                num_context=int(num_context),
                center_frac=center_frac,
                generator=seeds.generator(seed),
            )
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
