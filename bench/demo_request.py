"""Benchmark: one request of the demo page (completion + a 256x256 rendering) against the bare model calls.

    python bench/demo_request.py                     # shipped prior, 256x256 rendering, 7 repeats
    python bench/demo_request.py --model DIR --repeats 11 --hole painted

The request is :func:`hypersiren.app.complete_request.complete` on a bundled 256x256 example: decode the picture (and
the painted layer), centre-crop and resize both, build the mask, ``model.inpaint``, ``model.render`` at 8x the model's
side, PSNR over the hole. The reference, measured in the same run and interleaved with it so both see the same machine
load, is the bare ``model.inpaint`` + ``model.render`` on the same tensors: the ratio is the cost of the request's
plumbing. One warm-up of each is not timed (torch's one-off set-up). The last line is the median request time and the
ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from hypersiren import HyperSiren  # noqa: E402
from hypersiren.app.complete_request import complete  # noqa: E402
from hypersiren.app.demo import EXAMPLES_DIR  # noqa: E402
from hypersiren.data import to_model_range  # noqa: E402
from hypersiren.inpaint import load_picture  # noqa: E402


def main(args: argparse.Namespace) -> dict[str, float]:
    torch.set_num_threads(args.threads)
    model = HyperSiren.from_pretrained(args.model)
    size = model.config.image_size
    scale = args.render_size // size
    picture = EXAMPLES_DIR / "astronaut.jpg"
    width, height = 256, 256
    layer = np.zeros((height, width, 4), np.uint8)
    layer[112:144, 64:192] = 255  # a painted band across the face, as a brush stroke would leave it
    layers = [layer] if args.hole == "painted" else []
    loaded = load_picture(picture, size, layer[..., 3])
    x = to_model_range(loaded.image[None])  # (1, 3, S, S)
    observed = loaded.observed[None] if args.hole == "painted" else None
    if observed is None:
        from hypersiren.masks import make_observed

        observed = make_observed(args.hole, 1, size, size)
    context = torch.where(observed, x, torch.zeros_like(x))

    def request() -> None:
        complete(model, picture, layers, args.hole, scale=scale)

    def reference() -> None:
        with torch.inference_mode():
            model.inpaint(context, observed)
            model.render(context, observed, scale * size, scale * size)

    times: dict[str, list[float]] = {"request": [], "reference": []}
    for i in range(args.repeats + 1):
        for name, fn in (("request", request), ("reference", reference)):
            t = time.perf_counter()
            fn()
            if i > 0:  # the first of each is the warm-up
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(values) for name, values in times.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="celeba32", help="a shipped prior, a folder or a Hub id")
    parser.add_argument("--render_size", type=int, default=256, help="side of the larger rendering (default 256)")
    parser.add_argument("--hole", default="painted", help="painted, center, half_top, ... (default painted)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats of each (default 7)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    if args.repeats < 1:
        print("error: --repeats must be >= 1", file=sys.stderr)
        sys.exit(2)
    medians = main(args)
    print(
        f"{args.model}, {args.hole} hole, completion + {args.render_size}x{args.render_size} rendering, "
        f"{args.threads} threads, {time.strftime('%Y-%m-%d %H:%M')}, medians of {args.repeats}"
    )
    print(f"reference (bare model.inpaint + model.render): {medians['reference']:.3f} s")
    print(f"demo request: {medians['request']:.3f} s, {medians['request'] / medians['reference']:.2f}x the reference")
