"""How close a rendering of the shipped priors comes to its matmul bound, and to the renderer before issue 30.

    python bench/render_speed.py                              # celeba32 and celeba64, 64 / 256 / 1024 a side
    python bench/render_speed.py --models celeba32 --sizes 256 --repeats 7
    python bench/render_speed.py --profile 256                # also the profiler's top operators at 256 a side

For each prior, side and batch (one face's SIREN, and 10 SIRENs: the draws of a face), in the same run and
interleaved: the fused renderer (:mod:`hypersiren.prior.fused_render`, what every inference call uses), the
per-point renderer (the training path, which was every call's before: the reference), and the bound: the same
matmuls alone (every sine layer's ``(K, n, F_in) @ (K, F_in, F)`` over the fused renderer's chunks, and the output
layer), in fp32 and in bf16. Printed beside each: the share of the bound the renderer reaches (bound / time, in the
dtype it ran in, and against the faster dtype's bound), and the hardware's own gain (this CPU's bf16 matmul against
its fp32). Medians of the repeats after a warm-up; the last line sums it up.
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
from hypersiren.prior.fused_render import CHUNK_VALUES  # noqa: E402


def median(times: list[float]) -> float:
    return sorted(times)[len(times) // 2]


def siren_generated(model: HyperSiren, k: int):
    """``k`` generated SIRENs of one face under a centre hole (its draws where the prior has a sampler)."""
    s = model.config.image_size
    face = torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(0)) * 2 - 1
    hole = make_observed("center", 1, s, s)
    with torch.no_grad():
        if k > 1 and model.sampler is not None:
            return model.draw(face, hole, k, torch.Generator().manual_seed(0))
        return model.generate(model.encode(face.expand(k, -1, -1, -1), hole.expand(k, -1, -1, -1)))


def matmul_bound(model: HyperSiren, k: int, side: int, dtype: torch.dtype) -> float:
    """Seconds of the fused renderer's matmuls alone (same shapes, chunks and dtype), best of 3."""
    width, out = model.config.hidden_features, model.config.channels
    n = side * side
    step = max(64, CHUNK_VALUES // (k * width))
    g = torch.Generator().manual_seed(0)
    first = torch.rand(k, 2, width, generator=g).to(dtype)
    hidden = torch.rand(k, width, width, generator=g).to(dtype)
    last = torch.rand(width, out, generator=g).to(dtype)
    layers = model.config.hidden_layers
    h = torch.rand(k, step, width, generator=g).to(dtype)
    x = torch.rand(k, step, 2, generator=g).to(dtype)
    buffer = torch.empty(k, step, width, dtype=dtype)

    def run() -> None:
        for start in range(0, n, step):
            m = min(step, n - start)
            torch.bmm(x[:, :m], first, out=buffer[:, :m])
            for _ in range(layers):
                torch.bmm(h[:, :m], hidden, out=buffer[:, :m])
            torch.matmul(h[:, :m], last)

    times = []
    for _ in range(4):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", nargs="+", default=["celeba32", "celeba64"], help="priors (names, folders)")
    p.add_argument("--sizes", nargs="+", type=int, default=[64, 256, 1024], help="rendered sides")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 10], help="SIRENs rendered at once")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats after one warm-up (default 5)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reference_max", type=int, default=256, help="time the per-point reference up to this side")
    p.add_argument("--profile", type=int, default=0, help="also print the profiler's top operators at this side")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    mm = dominant_matmul(8192, 256)
    gain = mm["fp32"] / mm["bf16"]
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(matmul_line(8192, mm))
    faster = torch.bfloat16 if gain > 1 else torch.float32
    rows = []
    for name in args.models:
        model = HyperSiren.from_pretrained(name).requires_grad_(False)
        for k in args.batches:
            generated = siren_generated(model, k)
            for side in args.sizes:

                def fused(generated=generated, side=side, model=model) -> None:
                    with torch.inference_mode():
                        model.decode(generated, side, side)

                def per_point(generated=generated, side=side, model=model) -> None:  # the training path, no graph
                    with torch.enable_grad():
                        model.decode(generated, side, side, chunk=8)  # as sample() renders

                sides = {"fused": fused, **({"per-point": per_point} if side <= args.reference_max else {})}
                times = {key: [] for key in sides}
                for i in range(args.repeats + 1):
                    for key, fn in sides.items():
                        t0 = time.perf_counter()
                        fn()
                        if i:
                            times[key].append(time.perf_counter() - t0)
                med = {key: median(v) for key, v in times.items()}
                bound = matmul_bound(model, k, side, torch.float32)
                bound_fast = matmul_bound(model, k, side, faster) if faster != torch.float32 else bound
                row = {"model": name, "k": k, "side": side, **med, "bound": bound, "bound_faster": bound_fast}
                rows.append(row)
                ref = (
                    f", per-point {med['per-point']:.3f} s ({med['per-point'] / med['fused']:.2f}x slower)"
                    if ("per-point" in med)
                    else ""
                )
                print(
                    f"{name} {k} SIREN{'s' if k > 1 else ''} at {side}x{side}: fused {med['fused']:.3f} s{ref}; its "
                    f"fp32 matmuls alone {bound:.3f} s: {bound / med['fused']:.0%} of the bound; the faster dtype's "
                    f"({str(faster).split('.')[-1]}) bound {bound_fast:.3f} s: {bound_fast / med['fused']:.0%}",
                    flush=True,
                )
        if args.profile:
            generated = siren_generated(model, 10)
            with torch.inference_mode(), torch.profiler.profile() as prof:
                model.decode(generated, args.profile, args.profile)
            print(f"{name}, 10 SIRENs at {args.profile}x{args.profile}, the fused renderer's top operators:")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
            with torch.enable_grad(), torch.profiler.profile() as prof:
                model.decode(generated, args.profile, args.profile, chunk=8)
            print(f"{name}, the same with the per-point renderer:")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
    key = next((r for r in rows if r["side"] == 256 and r["k"] == 10), rows[-1])
    ratio = f", {key['per-point'] / key['fused']:.2f}x the per-point renderer" if "per-point" in key else ""
    print(
        f"render speed ({key['model']}, {key['k']} SIRENs at {key['side']}x{key['side']}): {key['fused']:.3f} s, "
        f"{key['bound'] / key['fused']:.0%} of its fp32 matmul bound{ratio}; bf16 matmul {gain:.2f}x fp32 here"
    )
    return {"rows": rows, "bf16_gain": gain}


if __name__ == "__main__":
    main()
