"""A page that shows the prior at work (SIREN Sec. 4.4): pick or upload a picture, paint the hole, watch it complete.

    python -m hypersiren.app.demo [--model NAME_OR_DIR] [--port N] [--share]     # or: hypersiren-demo
    hypersiren-demo --max_side 2048 --queue_size 32 --concurrency 4                 # the page's limits

A Gradio ``Blocks`` page (a Hugging Face Space is this file as ``app.py``), offline, on the CPU, with the
shipped prior by default. The model sees a square of the picture exactly as ``eval/inpaint.py --image`` does
(:func:`hypersiren.inpaint.picture.load_picture`): a face framed as CelebA's faces are (OpenCV's Haar cascades, the
``[align]`` extra; the checkbox), else the centred square, or the square around the hole where the centred one
does not hold it; the hole is the painted layer's alpha through the same square and resize, or a preset. The page
gives back the picture at its own size with the hole filled by the completed SIREN at the picture's own pixels
(every other pixel as it came in), and beside it the model's square with the hole, its completion at the model's
resolution and the same SIREN rendered at 2x / 4x / 8x that resolution, which a CNN inpainter cannot do.

The button's API endpoint is ``/complete`` (``gradio_client``: ``Client(url).predict(editor, hole, center_frac,
num_context, scale, refine_steps, align, api_name="/complete")``, with ``scale`` one of ``"2"``, ``"4"``, ``"8"``).

The request is :mod:`hypersiren.app.complete_request` (:func:`~hypersiren.app.complete_request.complete`), callable
without Gradio. What one request may cost is bounded by :class:`hypersiren.app.uploads.Limits`: a picture beyond 1024
pixels on its longer side is worked on (and given back) reduced to it, one under 16 pixels on its shorter side is
refused, a hole beyond 32,768 of its pixels is faded in linearly rather than Poisson-blended, an unreadable file gets
the page's message (through ``gradio_client`` too), and Gradio's queue holds 16 requests waiting for the 2 being worked
on before it answers "Queue is full". This module is an app, so unlike the rest of the library it parses arguments and
prints.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hypersiren.app.complete_request import complete, respond
from hypersiren.app.page_input import HOLES, load
from hypersiren.app.sample_request import respond_samples
from hypersiren.app.uploads import LIMITS, Limits, pass_uploads_undecoded
from hypersiren.prior import pretrained
from hypersiren.prior.model import HyperSiren
from hypersiren.utils.extras import MissingExtraError, require

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"
SCALES = (2, 4, 8)  # the larger rendering, as multiples of the model's side
# the model-resolution outputs are tiny: show them as large as their box, with visible pixels
CSS = (
    ".pixelated img { image-rendering: pixelated; width: 100% !important; height: 100% !important; "
    "object-fit: contain; }"
)


def build(model: HyperSiren | None, model_line: str, limits: Limits = LIMITS):
    """The Gradio page (``gr.Blocks``) for ``model``, queued within ``limits``; a model that failed to load shows
    ``model_line``."""
    gr = require("gradio", "demo")

    size = model.config.image_size if model is not None else 32
    examples = sorted(EXAMPLES_DIR.glob("*.jpg"))
    with gr.Blocks(title="hypersiren: a SIREN prior completes your picture") as page:
        gr.Markdown(
            "# hypersiren: a learned prior over SIRENs completes your picture\n"
            "Pick an example or upload a picture, paint over what should disappear (or choose a preset hole) and "
            "press **Complete**. The model works on a square of the picture at its own resolution (a face is framed "
            "as CelebA's faces are); the completed SIREN is a continuous function, so it fills the hole at your "
            "picture's own pixels, and can be rendered at 2x, 4x or 8x the model's resolution. "
            "It was trained on CelebA faces: anything else is completed with a face.\n\n" + model_line
        )
        with gr.Row():
            with gr.Column(scale=3):
                editor = gr.ImageMask(
                    label="picture: paint the hole",
                    type="filepath",
                    sources=("upload", "clipboard"),
                    image_mode="RGBA",
                    format="png",
                    height=460,
                    layers=False,
                    brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed", default_size=16),
                    elem_id="editor",
                )
                pass_uploads_undecoded(editor)  # the request reads them, within the page's limits
                gr.Examples(
                    examples=[[str(p)] for p in examples],
                    inputs=[editor],
                    label="examples",
                    example_labels=[p.stem for p in examples],
                )
            with gr.Column(scale=2):
                hole = gr.Radio(list(HOLES), value="painted", label="hole", elem_id="hole")
                center_frac = gr.Slider(0.1, 0.9, value=0.5, step=0.05, label="centre square: side / picture side")
                num_context = gr.Slider(1, size * size, value=100, step=1, label="random: context pixels N")
                # string values: gradio_client documents a radio's choices as strings and sends them so
                scale = gr.Radio(
                    [(f"{s}x ({s * size}x{s * size})", str(s)) for s in SCALES],
                    value=str(SCALES[-1]),
                    label="render the same SIREN at",
                )
                refine_steps = gr.Slider(0, 100, value=0, step=10, label="refinement steps (optional, slower)")
                align = gr.Checkbox(
                    value=True, label="frame a face as CelebA's faces are (needs OpenCV)", elem_id="align"
                )
                button = gr.Button("Complete (the mean)", variant="primary", elem_id="complete")
                with gr.Group(visible=model is not None and model.sampler is not None):
                    num_samples = gr.Slider(2, 8, value=4, step=1, label="samples K")
                    # a text box: an empty gr.Number comes back as 0, which would draw the same samples each press
                    seed = gr.Textbox(value="", label="seed (empty: a new one each press)", elem_id="seed")
                    larger = gr.Checkbox(value=False, label="show each sample rendered at the chosen size")
                    sample_button = gr.Button("Sample K completions", elem_id="sample")
        status = gr.Markdown(label="status", elem_id="status")
        picture_out = gr.Image(
            label="your picture, completed at its own size", format="png", height=460, elem_id="picture"
        )
        with gr.Row():
            observed_out = gr.Image(
                label=f"the model's square ({size}x{size}, hole in blue)",
                format="png",
                height=300,
                elem_id="observed",
                elem_classes="pixelated",
            )
            completed_out = gr.Image(
                label=f"completed ({size}x{size}, observed pixels kept)",
                format="png",
                height=300,
                elem_id="completed",
                elem_classes="pixelated",
            )
            rendered_out = gr.Image(
                label="the same SIREN, rendered larger", format="png", height=300, elem_id="rendered"
            )
        with gr.Row():
            pictures_out = gr.Gallery(
                label="samples: your picture at its own size",
                columns=4,
                height=300,
                format="png",
                elem_id="sample_pictures",
            )
            squares_out = gr.Gallery(
                label="samples on the model's grid",
                columns=4,
                height=300,
                elem_id="samples",
                format="png",
                elem_classes="pixelated",
            )
            uncertainty_out = gr.Image(
                label="where the samples disagree (std: blue sure, red unsure)",
                format="png",
                height=300,
                elem_id="uncertainty",
                elem_classes="pixelated",
            )
        files = gr.File(label="download", file_count="multiple", elem_id="download")

        button.click(
            functools.partial(respond, model, model_line, limits=limits),
            [editor, hole, center_frac, num_context, scale, refine_steps, align],
            [status, picture_out, observed_out, completed_out, rendered_out, files],
            api_name="complete",
        )
        sample_button.click(
            functools.partial(respond_samples, model, model_line, limits=limits),
            [editor, hole, center_frac, num_context, num_samples, seed, larger, scale, align],
            [status, pictures_out, squares_out, uncertainty_out, files],
            api_name="sample",
        )
    return page.queue(max_size=limits.queue_size, default_concurrency_limit=limits.concurrency)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hypersiren-demo", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        default=None,
        help=f"a shipped prior ({', '.join(pretrained.available())}), a "
        f"checkpoint folder or a Hub id (default: {pretrained.DEFAULT})",
    )
    # a Hugging Face Space sets GRADIO_SERVER_NAME / GRADIO_SERVER_PORT: then `main([])` serves where it should
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)), help="the port")
    p.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="the address to listen on (0.0.0.0: every interface)",
    )
    p.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link (online)")
    p.add_argument(
        "--max_side",
        type=int,
        default=LIMITS.max_side,
        help=f"a larger picture is worked on (and given back) reduced to this longer side (default {LIMITS.max_side})",
    )
    p.add_argument(
        "--queue_size",
        type=int,
        default=LIMITS.queue_size,
        help=f"requests that may wait; beyond them the page answers 'Queue is full' (default {LIMITS.queue_size})",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=LIMITS.concurrency,
        help=f"requests worked on at once (default {LIMITS.concurrency})",
    )
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Start the page (blocks until interrupted)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no usage reports, no version check
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("max_side", "queue_size", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    limits = LIMITS._replace(max_side=args.max_side, queue_size=args.queue_size, concurrency=args.concurrency)
    if limits.max_side < limits.min_side:
        parser.error(f"--max_side must be at least {limits.min_side} (the smallest picture's side)")
    try:
        require("gradio", "demo")
    except MissingExtraError as err:  # before loading anything: the one thing to do is install the extra
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    model, line = load(args.model)
    print(line)
    if model is not None and (examples := sorted(EXAMPLES_DIR.glob("*.jpg"))):
        complete(model, examples[0], hole="center", scale=2)  # the first request pays torch's one-off set-up
    build(model, line, limits).launch(
        server_name=args.host, server_port=args.port, share=args.share, css=CSS, max_file_size=f"{limits.max_file_mb}mb"
    )


if __name__ == "__main__":
    main()
