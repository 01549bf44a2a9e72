"""The demo page's sampling request: K completions of the same hole, each a SIREN from the prior's sampler.

:func:`sample` draws them (:func:`hypersiren.inpaint.picture_completion.sample_picture`) for the same picture and hole
as :func:`hypersiren.app.complete_request.complete` completes (both read them through
:mod:`hypersiren.app.page_input`); :func:`respond_samples` is the Sample button's handler (the API
endpoint ``/sample``).
"""

from __future__ import annotations

import math
import secrets
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from hypersiren.app.figures import uncertainty_colours
from hypersiren.app.page_input import DemoError, attempt, picture_and_hole, save_png
from hypersiren.app.uploads import LIMITS, Limits
from hypersiren.data.images import to_uint8
from hypersiren.inpaint.composite import BAND
from hypersiren.inpaint.picture_completion import sample_picture
from hypersiren.prior.model import HyperSiren


class DemoSamples(NamedTuple):
    """One sampling request: ``K`` completions of the same hole.

    Attributes:
        pictures: ``K`` ``(H, W, 3)`` uint8, the picture at its own size with each sample in the hole.
        squares: ``K`` ``(S, S, 3)`` uint8 on the model's grid, or each rendered at ``scale`` times its side.
        uncertainty: ``(S, S, 3)`` uint8, the samples' per-pixel standard deviation as colours
            (:func:`hypersiren.app.figures.uncertainty_colours`).
        seed: the seed of the draws (the same seed draws them again).
        seconds: the request's wall time.
        notes: as :class:`DemoResult`'s.
    """

    pictures: list[np.ndarray]
    squares: list[np.ndarray]
    uncertainty: np.ndarray
    seed: int
    seconds: float
    notes: list[str]


def sample(
    model: HyperSiren,
    picture: Any,
    layers: Sequence[Any] = (),
    hole: str = "painted",
    center_frac: float = 0.5,
    num_context: int = 100,
    num_samples: int = 4,
    seed: int | None = None,
    scale: int | None = None,
    align: bool = True,
    band: int = BAND,
    limits: Limits = LIMITS,
) -> DemoSamples:
    """The page's sampling request: ``num_samples`` completions of the same hole, each a SIREN from the sampler.

    Args:
        seed: the draws' seed; None: a new one (returned, so a result can be drawn again).
        scale: show each sample rendered at this many times the model's side (None: at the model's side).
        The others: as :func:`complete`.

    Raises:
        DemoError: as :func:`complete`, a model without a sampler, fewer than 1 or more than 16 samples.
    """
    t0 = time.perf_counter()
    if model.sampler is None:
        raise DemoError("this model has no sampler: it gives its mean completion only (press Complete)")
    if not 1 <= int(num_samples) <= 16:
        raise DemoError(f"draw 1 to 16 samples, not {num_samples}")
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    loaded, observed, notes, blend = picture_and_hole(
        model, picture, layers, hole, center_frac, num_context, seed, align, limits, pictures=int(num_samples)
    )
    size = model.config.image_size
    gen = torch.Generator(next(model.parameters()).device).manual_seed(seed)
    drawn = sample_picture(model, loaded, observed, int(num_samples), gen, scale * size if scale else None, band, blend)
    shown = drawn.rendered if drawn.rendered is not None else drawn.squares
    squares = [to_uint8(s).permute(1, 2, 0).numpy() for s in shown]
    colour = (uncertainty_colours(drawn.uncertainty[0]) * 255).round().to(torch.uint8).numpy()  # (S, S, 3)
    return DemoSamples(drawn.pictures, squares, colour, seed, time.perf_counter() - t0, notes)


def respond_samples(
    model: HyperSiren | None,
    model_line: str,
    value: dict | None,
    hole: str = "painted",
    center_frac: float = 0.5,
    num_context: int = 100,
    num_samples: int = 4,
    seed: float | str | None = None,
    larger: bool = False,
    scale: int | str = 8,
    align: bool = True,
    limits: Limits = LIMITS,
) -> tuple[str, list | None, list | None, np.ndarray | None, list[str] | None]:
    """The Sample button's handler (the API endpoint ``/sample``): :func:`sample` on the editor's value.

    Args:
        seed: the draws' seed; empty or None: a new one each press (the status shows it).
        larger: show each sample rendered at ``scale`` times the model's side.

    Returns:
        ``(status markdown, pictures, squares, uncertainty map, files)``; on bad input the message and Nones.
    """
    value = value or {}
    text = "" if seed is None or (isinstance(seed, float) and math.isnan(seed)) else str(seed).strip()
    try:
        chosen = int(text) if text else None  # the page's seed box is text: empty, or a whole number
    except ValueError:
        return f"**The seed must be a whole number or empty**, got {text!r}.", None, None, None, None
    r, message = attempt(
        "sample",
        model,
        model_line,
        lambda: sample(
            model,
            value.get("background"),
            value.get("layers") or (),
            hole,
            center_frac,
            num_context,
            int(num_samples),
            chosen,
            int(scale) if larger else None,
            bool(align),
            limits=limits,
        ),
    )
    if r is None:
        return message, None, None, None, None
    folder = Path(tempfile.mkdtemp(prefix="hypersiren-demo-"))
    files = [save_png(p, folder, f"sample{i + 1}_seed{r.seed}.png") for i, p in enumerate(r.pictures)]
    files += [save_png(s, folder, f"sample{i + 1}_seed{r.seed}_{s.shape[0]}px.png") for i, s in enumerate(r.squares)]
    files.append(save_png(r.uncertainty, folder, f"uncertainty_seed{r.seed}.png"))
    lines = [
        f"Drew {len(r.pictures)} completions of the hole with **seed {r.seed}** (the same seed draws them again) "
        f"in **{r.seconds:.2f} s**; each is a SIREN from the sampler. The map shows where they disagree "
        f"(their per-pixel standard deviation: blue sure, red unsure).",
        *r.notes,
    ]
    captions = [(p, f"sample {i + 1}") for i, p in enumerate(r.pictures)]
    squares = [(s, f"sample {i + 1}, {s.shape[0]}x{s.shape[0]}") for i, s in enumerate(r.squares)]
    return "\n\n".join(lines), captions, squares, r.uncertainty, [str(f) for f in files]
