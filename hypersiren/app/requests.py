"""The demo page's request, callable without Gradio (the page, tests, ``bench/demo_request.py``).

:func:`complete` completes a picture where it is painted (or under a preset hole) through the same centre crop and
resize as ``eval/inpaint.py --image`` (:func:`hypersiren.inpaint.picture.load_picture`); :func:`respond` is the
button's handler around it. Bad input raises :class:`DemoError`, whose message the page shows in place of the
results; :func:`load` turns a model that cannot be loaded into a line for the page.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from hypersiren.data.images import DataError, to_uint8
from hypersiren.inpaint.picture import check_hole, load_picture, open_image
from hypersiren.inpaint.pipeline import RefineOptions, complete_picture
from hypersiren.masks.kinds import MaskError, make_observed
from hypersiren.metrics.image import psnr, to_unit
from hypersiren.prior import pretrained
from hypersiren.prior.model import HyperSiren
from hypersiren.utils import seeds

logger = logging.getLogger(__name__)

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
        observed: ``(S, S, 3)`` uint8, the picture on the model's grid with the hole coloured.
        completed: ``(S, S, 3)`` uint8, the completion (observed pixels kept; refined if asked).
        rendered: ``(R, R, 3)`` uint8, the same SIREN rendered at ``R = scale * S`` (the encoder's SIREN).
        psnr_hole: PSNR in dB over the missing pixels against the picture itself (its own ground truth).
        num_missing: missing pixels on the model's grid.
        seconds: the request's wall time.
        notes: what the user should know (the crop, a mask partly outside it, refinement).
    """

    observed: np.ndarray
    completed: np.ndarray
    rendered: np.ndarray
    psnr_hole: float
    num_missing: int
    seconds: float
    notes: list[str]


def _alpha(layers: Sequence[Any]) -> np.ndarray | None:
    """The union of the painted layers' alpha, ``(H, W)`` uint8 (255 = painted), or None without any layer."""
    alpha = None
    for layer in layers:
        if layer is None:
            continue
        image = open_image(layer, "painted layer")
        a = np.asarray(image.convert("RGBA"), dtype=np.uint8)[..., 3]
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
) -> DemoResult:
    """The page's request: complete ``picture`` where it is painted (or under a preset hole).

    Args:
        model: the prior.
        picture: the picture (path, PIL image or uint8 array), any size: centre-cropped to a square.
        layers: the painted layers (paths, PIL images or RGBA arrays of the picture's size); their alpha is
            the hole when ``hole`` is ``"painted"``.
        hole: ``"painted"`` or a :mod:`hypersiren.masks.kinds` kind on the model's grid (``center``, ``half_*``,
            ``random``).
        center_frac: side of the ``center`` hole / the model's side.
        num_context: observed pixels for ``random``.
        scale: the larger rendering's side / the model's side.
        refine_steps: test-time Adam steps on the observed pixels (then both the completion and the larger
            rendering show the refined SIREN).
        refine_lr: their learning rate.
        seed: seeds the ``random`` preset.

    Raises:
        DemoError: no picture, an unreadable picture or layer, nothing painted, a hole that is empty on the
            model's grid or covers everything, a bad preset parameter.
    """
    t0 = time.perf_counter()
    size = model.config.image_size
    if picture is None:
        raise DemoError("no picture: pick an example or upload one")
    kinds = [kind for _, kind in HOLES]
    if hole not in kinds:
        raise DemoError(f"unknown hole {hole!r}: one of {', '.join(kinds)}")
    try:
        if hole == "painted":
            alpha = _alpha(layers)
            if alpha is None or not alpha.any():
                raise DemoError("nothing painted: paint over what should disappear, or choose a preset hole")
            loaded = load_picture(picture, size, missing=alpha)
            observed = loaded.observed[None]  # (1, 1, S, S)
        else:
            loaded = load_picture(picture, size)
            observed = make_observed(hole, 1, size, size, num_context=int(num_context), center_frac=center_frac,
                                     generator=seeds.generator(seed))  # fmt: skip
        check_hole(observed)
    except (DataError, MaskError) as err:
        raise DemoError(str(err)) from None
    notes = []
    if loaded.cropped:
        (w, h), (left, top, right, bottom) = loaded.source_size, loaded.box
        notes.append(f"The {w}x{h} picture was centre-cropped to its middle {right - left}x{bottom - top} square "
                     f"(like the faces the model learnt from), then resized to {size}x{size}.")  # fmt: skip
    if loaded.marked_outside > 0.001:
        notes.append(f"{loaded.marked_outside:.0%} of the painted area lies outside that square and is ignored.")
    done = complete_picture(model, loaded.image, observed, scale * size, RefineOptions(int(refine_steps), refine_lr))
    completed = done.completed if done.refined is None else done.refined  # (1, 3, S, S), observed pixels kept
    rendered = done.rendered if done.refined_rendered is None else done.refined_rendered
    if done.refined is not None:
        notes.append(f"Refined for {int(refine_steps)} steps on the observed pixels (both pictures).")
    missing = ~done.observed
    psnr_hole = psnr(to_unit(completed), to_unit(done.image), missing).item()
    return DemoResult(_image(done.shown), _image(completed), _image(rendered), psnr_hole, int(missing.sum()),
                      time.perf_counter() - t0, notes)  # fmt: skip


def load(spec: str | None) -> tuple[HyperSiren | None, str]:
    """The model (or None) and a line for the page: its name, or why it cannot be loaded."""
    spec = spec or pretrained.DEFAULT
    try:
        model = HyperSiren.from_pretrained(spec).eval()
    except Exception as err:  # noqa: BLE001 - any failure (missing, corrupt, Hub unreachable) goes on the page
        return None, f"The model {spec!r} cannot be loaded: {err}"
    size = model.config.image_size
    return model, f"Model: `{spec}` ({size}x{size})."


def _save(image: np.ndarray, folder: Path, name: str) -> Path:
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
    scale: int = 8,
    refine_steps: int = 0,
) -> tuple[str, np.ndarray | None, np.ndarray | None, np.ndarray | None, list[str] | None]:
    """The button's handler: :func:`complete` on the editor's value, or a message instead of the results.

    Args:
        model: the prior, or None when it could not be loaded (``model_line`` says why).
        value: the editor's value, ``{"background": picture, "layers": [...], "composite": ...}``.

    Returns:
        ``(status markdown, observed, completed, rendered, files to download)``; on bad input the message and
        Nones, never a traceback.
    """
    nothing = (None, None, None, None)
    if model is None:
        return (f"**Cannot complete:** {model_line}", *nothing)
    value = value or {}
    try:
        r = complete(model, value.get("background"), value.get("layers") or (), hole, center_frac, num_context,
                     int(scale), int(refine_steps))  # fmt: skip
    except DemoError as err:
        return (f"**Cannot complete:** {err}", *nothing)
    except Exception as err:  # noqa: BLE001 - the page gets a message, the console the traceback
        logger.exception("request failed")
        return (f"**Cannot complete:** unexpected {type(err).__name__}: {err}", *nothing)
    size = r.completed.shape[0]
    folder = Path(tempfile.mkdtemp(prefix="hypersiren-demo-"))
    files = [_save(r.completed, folder, f"completed_{size}.png"),
             _save(r.rendered, folder, f"rendered_{r.rendered.shape[0]}.png")]  # fmt: skip
    lines = [f"Completed {r.num_missing} missing pixels of {size * size} in **{r.seconds:.2f} s**; PSNR over the "
             f"hole, against the picture itself: **{r.psnr_hole:.2f} dB**.", *r.notes]  # fmt: skip
    return "\n\n".join(lines), r.observed, r.completed, r.rendered, [str(f) for f in files]
