"""How long a sampler takes to draw completions of one face, against the mean completion, in the same run.

    python bench/sample_speed.py                       # the shipped celeba32: 10 draws of one face + their 256x256
    python bench/sample_speed.py --model runs/... --samples 10 --render_size 256 --repeats 7
    python bench/sample_speed.py --bf16                # both sides render under bf16 autocast

The request timed (issue 23's target: under 2 s on 2 cores): ``model.sample(face, centre hole, K)`` at the model's
side plus every draw's SIREN rendered at ``render_size`` (one :meth:`~hypersiren.HyperSiren.draw`, decoded twice).
The reference, interleaved with it: the mean's ``inpaint`` + ``render`` at the same size, K times (what K
completions cost without a sampler, each its own encoder pass). Medians of the repeats after one warm-up; the
hardware's own gain beside it: this CPU's bf16 matmul speed against fp32 (bench/interleave.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interleave import cpu_name, dominant_matmul, matmul_line  # noqa: E402

from hypersiren import HyperSiren, make_observed  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="celeba32", help="a prior with a sampler (name, folder or Hub id)")
    p.add_argument("--samples", type=int, default=10, help="draws of the face (default 10)")
    p.add_argument("--render_size", type=int, default=256, help="the larger rendering's side (default 256)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats after one warm-up (default 5)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action="store_true", help="render under bf16 autocast, the sampler and the mean alike")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = HyperSiren.from_pretrained(args.model)
    if model.sampler is None:
        p.error(f"{args.model} has no sampler")
    s, k, r = model.config.image_size, args.samples, args.render_size
    dtype = torch.bfloat16 if args.bf16 else None
    face = torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(0)) * 2 - 1
    hole = make_observed("center", 1, s, s)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(matmul_line(8192, dominant_matmul(8192, 256)))

    def sampled() -> None:
        gen = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            generated = model.draw(face, hole, k, gen)
            model.decode(generated, s, s, dtype=dtype)
            model.decode(generated, r, r, chunk=1, dtype=dtype)

    def mean() -> None:
        for _ in range(k):
            model.inpaint(face, hole, render_dtype=dtype)
            model.render(face, hole, r, render_dtype=dtype)

    times = {"sample": [], "mean": []}
    for i in range(args.repeats + 1):
        for name, fn in (("sample", sampled), ("mean", mean)):
            t0 = time.perf_counter()
            fn()
            if i:  # the first round warms up
                times[name].append(time.perf_counter() - t0)
    med = {name: sorted(v)[len(v) // 2] for name, v in times.items()}
    kind = "bf16" if args.bf16 else "fp32"
    print(
        f"{k} draws of one {s}x{s} face with their {r}x{r} renderings ({kind}): {med['sample']:.3f} s (median of "
        f"{args.repeats}); the mean's inpaint + render {k} times: {med['mean']:.3f} s: "
        f"{med['mean'] / med['sample']:.2f}x the sampler's time"
    )
    return med


if __name__ == "__main__":
    main()
