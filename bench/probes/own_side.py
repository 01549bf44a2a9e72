"""Probe: a batch of faces rendered at the prior's own side (issue 30, docs/results.md, "Rendering at the matmuls'
pace").

At the model's side (32x32 for celeba32) there are as many points as codes, so the fused renderer's per-code shifts
save no multiply-adds there. ``eval/inpaint.py`` renders ``--decode_chunk`` (8) faces at a time; ``model.render`` on a
whole batch renders it at once. The fused renderer folds each image's FiLM scale into its own copy of every sine
layer's weight while those fit :data:`~hypersiren.prior.fused_render.FOLD_BYTES` (256 faces would need 64 MB a
layer, read again for every chunk of points), and beyond it keeps one shared weight. This probe times, in one run and
interleaved, the fused renderer both ways and the per-point renderer without autograd, on the same generated SIRENs
(random faces under a centre hole), and prints the medians and the largest difference from the per-point values.

    python bench/probes/own_side.py                       # celeba32, 256 faces at once at 32x32
    python bench/probes/own_side.py --batch 8 --repeats 7  # as eval/inpaint.py renders them
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interleave import cpu_name  # noqa: E402

from hypersiren import make_observed  # noqa: E402
from hypersiren.app.sources import load_model  # noqa: E402
from hypersiren.prior import fused_render  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="celeba32", help="a grid prior (name, folder or Hub id)")
    p.add_argument("--batch", type=int, default=256, help="faces rendered at once (eval/inpaint.py: 8 at a time)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    s = model.config.image_size
    faces = torch.rand(args.batch, 3, s, s, generator=torch.Generator().manual_seed(0)) * 2 - 1
    hole = make_observed("center", args.batch, s, s)
    hypernet, siren = model.hypernet, model.siren
    with torch.no_grad():
        generated = model.generate(model.encode(faces, hole))
        coords = model.pixel_coords(s, s)

        def fused(fold_bytes: int):
            def run():
                saved, fused_render.FOLD_BYTES = fused_render.FOLD_BYTES, fold_bytes
                try:
                    return fused_render.render_per_code(hypernet, generated, siren, coords)
                finally:
                    fused_render.FOLD_BYTES = saved

            return run

        def per_point():  # the training path's arithmetic, without autograd
            hypernet._fused = lambda *_: False
            try:
                return hypernet.render(generated, siren, coords)
            finally:
                del hypernet._fused

        ways = {
            "fused, weights per image": fused(1 << 62),
            "fused, one shared weight": fused(0),
            "per point": per_point,
        }
        times = {name: [] for name in ways}
        outputs = {name: way() for name, way in ways.items()}  # warm-up
        for _ in range(args.repeats):
            for name, way in ways.items():
                start = time.perf_counter()
                way()
                times[name].append(time.perf_counter() - start)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{args.model}: {args.batch} faces at {s}x{s}, medians of {args.repeats}")
    medians = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    reference = medians["per point"]
    for name, median in medians.items():
        diff = (outputs[name] - outputs["per point"]).abs().max().item()
        print(f"  {name:26s} {median:7.3f} s  {reference / median:5.2f}x the per-point  max |diff| {diff:.1e}")
    return medians


if __name__ == "__main__":
    main()
