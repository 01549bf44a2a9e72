"""The host's share of a training step: preparing a batch against the model's forward, backward and update.

    python bench/step_share.py                                    # the shipped recipes and the paper's config
    python bench/step_share.py --configs configs/celeba32-cpu.yaml --steps 10

For each config, on synthetic faces of its side and its batch size: the median time to prepare a batch
(:func:`hypersiren.training.batches.batch_indices` + :func:`hypersiren.training.batches.training_batch`: the
permutation,
flips, context masks, holes, pixel subsets, off-lattice points; everything drawn on the step's device) against the
median time of the step itself (autocast forward, loss, backward, gradient clip, Adam), interleaved step by step.
The share ``prepare / (prepare + step)`` bounds what a device waiting on the host for its batches would lose.
The reference, measured in the same run: 0.1's preparation, whose random holes were drawn image by image in a
Python loop (each ``int(torch.randint(...))`` a wait for the device on a GPU), kept below as a copy. The
hardware's own gain beside it: this CPU's bf16 matmul speed against its fp32 one (bench/interleave.py).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from interleave import cpu_name, dominant_matmul, matmul_line, median_after_first, train_script  # noqa: E402

from hypersiren import HyperSiren  # noqa: E402
from hypersiren.data import to_model_range  # noqa: E402
from hypersiren.masks.kinds import bernoulli_context, half, random_context  # noqa: E402
from hypersiren.siren.coords import random_pixels, take_pixels  # noqa: E402
from hypersiren.training.batches import batch_indices, training_batch  # noqa: E402
from hypersiren.training.losses import step_loss  # noqa: E402
from hypersiren.utils import generator  # noqa: E402

CONFIGS = ["configs/celeba32-cpu.yaml", "configs/celeba64-cpu.yaml", "configs/celeba32.yaml"]


def reference_batch(cfg, step: int, images: torch.Tensor):
    """0.1's batch preparation (a copy): the context on the CPU, each random hole drawn in a Python loop."""
    x = to_model_range(images)
    b, _, h, w = x.shape
    g = generator(cfg.seed, step, 0)
    n, lo, hi = h * w, max(1, cfg.context_min), min(cfg.context_max, h * w + 1)
    u = torch.rand(b, generator=g)
    k = torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if cfg.context_log_uniform else lo + u * (hi - lo)
    k = k.floor().clamp(lo, hi - 1)
    if cfg.context_dense_prob > 0:
        dense = torch.rand(b, generator=g) < cfg.context_dense_prob
        k = torch.where(
            dense, (n - torch.exp(torch.rand(b, generator=g) * math.log(n - lo + 1)).floor()).clamp(lo, hi - 1), k
        )
    observed = (
        random_context(b, h, w, k.long(), g) if cfg.context_sampling == "exact" else bernoulli_context(b, h, w, k, g)
    )
    for i in torch.nonzero(torch.rand(b, generator=g) < cfg.hole_prob).flatten().tolist():
        if torch.rand((), generator=g) < 0.5:
            observed[i, 0] = half(h, w, ("top", "bottom", "left", "right")[int(torch.randint(4, (), generator=g))])
        else:
            side = int(torch.randint(max(1, min(h, w) // 4), 3 * min(h, w) // 4 + 1, (), generator=g))
            top, left = (
                int(torch.randint(0, h - side + 1, (), generator=g)),
                int(torch.randint(0, w - side + 1, (), generator=g)),
            )
            observed[i, 0] = True
            observed[i, 0, top : top + side, left : left + side] = False
    if cfg.render_pixels is not None:
        pixels = random_pixels(h, w, cfg.render_pixels, generator(cfg.seed, step, 0, 1))
        return x, observed, take_pixels(x, pixels)
    return x, observed, x


def measure(path: str, steps: int, script) -> dict:
    cfg = script.parse_args(["--config", str(ROOT / path), "--cpu=true"])
    torch.manual_seed(0)
    model = HyperSiren(script.model_config(cfg))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    s, n = cfg.image_size, max(cfg.batch_size * 4, 256)
    faces = (torch.rand(n, 3, s, s, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    hires = None
    if cfg.offgrid_points:
        hires = torch.nn.functional.interpolate(faces.float(), scale_factor=2, mode="bilinear").to(torch.uint8)
    cast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.mixed_precision == "bf16")
    prep, ref, work = [], [], []
    for step in range(steps):
        t0 = time.perf_counter()
        idx = batch_indices(cfg.seed, step, n, cfg.batch_size)
        batch = training_batch(cfg, step, 0, faces[idx], hires[idx] if hires is not None else None)
        t1 = time.perf_counter()
        reference_batch(cfg, step, faces[idx])
        t2 = time.perf_counter()
        loss = step_loss(model, cfg, batch, autocast=lambda: cast)
        loss.total.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        prep.append(t1 - t0), ref.append(t2 - t1), work.append(t3 - t2)
    p, r, w = median_after_first(prep), median_after_first(ref), median_after_first(work)
    return {
        "config": path,
        "batch": cfg.batch_size,
        "side": s,
        "prepare_ms": 1e3 * p,
        "reference_ms": 1e3 * r,
        "step_ms": 1e3 * w,
        "share": p / (p + w),
        "reference_share": r / (r + w),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--configs", nargs="+", default=CONFIGS, help="training configs (default: the shipped recipes and the paper's)"
    )
    p.add_argument("--steps", type=int, default=6, help="steps per config, interleaved; the first is not counted")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.steps < 2:
        p.error("--steps must be >= 2 (the first is warm-up)")
    torch.set_num_threads(args.threads)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(matmul_line(8192, dominant_matmul(8192, 256)))
    script, rows = train_script(), []
    for path in args.configs:
        row = measure(path, args.steps, script)
        rows.append(row)
        print(
            f"{path} (batch {row['batch']}, {row['side']}x{row['side']}): prepare {row['prepare_ms']:.1f} ms, step "
            f"{row['step_ms']:.0f} ms: host share {row['share']:.1%}; 0.1's preparation "
            f"{row['reference_ms']:.1f} ms ({row['reference_share']:.1%}): "
            f"{row['reference_ms'] / row['prepare_ms']:.2f}x the time"
        )
    shares = [f"{Path(r['config']).stem} {r['share']:.1%} (0.1: {r['reference_share']:.1%})" for r in rows]
    print("host share of a step (prepare / (prepare + step)): " + ", ".join(shares))
    return rows


if __name__ == "__main__":
    main()
