"""Probe: two ways to a faster CPU training step, ``torch.compile`` and a channels_last encoder (docs/results.md,
"Training the grid prior").

The step is ``train/celeba.py``'s for ``--config`` (default ``configs/celeba32-cpu.yaml``: batch 64, 512 rendered
pixels, bf16 autocast, Adam, gradient clip): :func:`hypersiren.training.batches.training_batch`, the forward under
autocast, :func:`hypersiren.training.losses.prior_loss`, backward, clip, Adam at the config's rate; random images, no
schedule, EMA or logging, the training script's ``GLIBC_TUNABLES``. Variants, each its own model from the same
weights, on the same batches: ``eager`` (as trained), ``compiled`` (``torch.compile(model)``; its first call, the
compilation from a fresh cache, is reported) and ``channels_last`` (the encoder's weights and inputs). After
``--warmup`` steps of each, ``--steps`` rounds of one step of every variant, the order rotating, so all see the same
machine load (as ``bench/interleave.py``'s benchmarks): medians of wall and process CPU seconds, ratios against
eager's. Equal losses on the first batch (same weights, up to bf16 rounding) show that the variants compute the
same step. The last line gives the ratios.

    python bench/probes/compile_step.py                                   # the three variants, 20 rounds
    python bench/probes/compile_step.py --variants eager channels_last --steps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "bench"))

from interleave import cpu_name, train_script  # noqa: E402

from hypersiren.app.scripts import use_glibc_tunables  # noqa: E402
from hypersiren.prior import HyperSiren  # noqa: E402
from hypersiren.training.batches import Batch, training_batch  # noqa: E402
from hypersiren.training.losses import step_loss  # noqa: E402
from hypersiren.utils import generator  # noqa: E402

VARIANTS = ("eager", "compiled", "channels_last")


def batch(cfg, step: int) -> Batch:
    """Step ``step``'s batch as the training loop draws it (:func:`hypersiren.training.batches.training_batch`), of
    random uint8 images."""
    if cfg.offgrid_points:
        raise ValueError("the probe renders at the model's pixels: give a config without offgrid_points")
    shape = (cfg.batch_size, cfg.channels, cfg.image_size, cfg.image_size)
    images = torch.randint(0, 256, shape, generator=generator(cfg.seed, step, 5), dtype=torch.uint8)
    return training_batch(cfg, step, 0, images)


def make_step(name: str, cfg, model_cfg) -> tuple[Callable[[Batch], torch.Tensor], list[tuple[float, float]]]:
    """One variant's training step ``batch -> loss`` and the list its (wall, CPU) seconds go into."""
    torch.manual_seed(cfg.seed)
    model = HyperSiren(model_cfg).train()
    layout = torch.channels_last if name == "channels_last" else torch.contiguous_format
    if name == "channels_last":
        model.encoder.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if name == "compiled" else model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    times: list[tuple[float, float]] = []

    def step(b: Batch) -> torch.Tensor:
        start, cpu = time.perf_counter(), time.process_time()
        laid = b._replace(
            images=b.images.contiguous(memory_format=layout), observed=b.observed.contiguous(memory_format=layout)
        )
        bf16 = cfg.mixed_precision == "bf16"
        loss = step_loss(forward, cfg, laid, autocast=lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16))
        loss.total.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append((time.perf_counter() - start, time.process_time() - cpu))
        return loss.total.detach()

    return step, times


def main(args: argparse.Namespace) -> dict:
    """Time the variants; returns ``{variant: {"seconds_per_step", "cpu_seconds_per_step", "first_step",
    "first_loss", and against eager "ratio", "cpu_ratio"}}``."""
    torch.set_num_threads(args.threads)
    cache = None if args.warm_cache else tempfile.TemporaryDirectory(prefix="probe-inductor-")  # removed at the end
    if cache is not None:  # what a first run pays: with inductor's cache a second one compiles in seconds
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name
    celeba = train_script()
    cfg = celeba.parse_args(["--config", str(args.config), *args.overrides])
    cfg.validate()
    model_cfg = celeba.model_config(cfg)
    config_name = Path(args.config).name
    print(
        f"{config_name}: batch {cfg.batch_size}, {cfg.render_pixels or 'all'} rendered pixels, {cfg.image_size}x"
        f"{cfg.image_size}, mixed precision {cfg.mixed_precision}; {args.warmup} warm-up steps, {args.steps} "
        f"interleaved rounds; {cpu_name()}, {args.threads} threads, torch {torch.__version__}"
    )
    steps = {variant: make_step(variant, cfg, model_cfg) for variant in args.variants}
    first_loss = {variant: step(batch(cfg, 0)).item() for variant, (step, _) in steps.items()}  # the same weights
    for k in range(1, args.warmup):
        for step, _ in steps.values():
            step(batch(cfg, k))
    firsts = {variant: times[0][0] for variant, (_, times) in steps.items()}
    compiling = " (compiled: compiling)" if "compiled" in firsts else ""
    print("  first step: " + ", ".join(f"{v} {s:.1f} s" for v, s in firsts.items()) + compiling)
    for _, times in steps.values():
        times.clear()
    names = list(args.variants)
    for k in range(args.steps):
        data = batch(cfg, args.warmup + k)
        for variant in names[k % len(names) :] + names[: k % len(names)]:  # rotate: none always runs first
            steps[variant][0](data)
    result = {
        v: {
            "seconds_per_step": statistics.median(t[0] for t in times),
            "first_step": firsts[v],
            "cpu_seconds_per_step": statistics.median(t[1] for t in times),
            "first_loss": first_loss[v],
        }
        for v, (_, times) in steps.items()
    }
    eager, parts = result.get("eager"), []
    for variant, r in result.items():
        line = f"{variant:>14}: {r['seconds_per_step']:.3f} s/step, {r['cpu_seconds_per_step']:.3f} CPU s/step"
        if eager and variant != "eager":
            r["ratio"] = r["seconds_per_step"] / eager["seconds_per_step"]
            r["cpu_ratio"] = r["cpu_seconds_per_step"] / eager["cpu_seconds_per_step"]
            rel = abs(r["first_loss"] - eager["first_loss"]) / abs(eager["first_loss"])
            line += f": {r['ratio']:.2f}x eager's, CPU {r['cpu_ratio']:.2f}x; first loss rel. diff to eager {rel:.1e}"
        print(line)
        parts.append(f"{variant} {r['seconds_per_step']:.3f}" + (f" ({r['ratio']:.2f}x)" if "ratio" in r else ""))
    compiled = f", {result['compiled']['first_step']:.0f} s to compile" if "compiled" in result else ""
    print(f"training step of {config_name}: {', '.join(parts)} s/step (wall, median){compiled}")
    if cache is not None:
        os.environ.pop("TORCHINDUCTOR_CACHE_DIR")
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=ROOT / "configs" / "celeba32-cpu.yaml", help="a train/celeba.py config")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="(default: all three)")
    p.add_argument("--steps", type=int, default=20, help="timed rounds after the warm-up (default 20)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps of each variant first (default 2)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--warm_cache", action="store_true", help="keep inductor's cache (default: a fresh one, cold)")
    p.epilog = "Any other --key=value is a train/celeba.py flag over the config, e.g. --batch_size=8."
    args, args.overrides = p.parse_known_args(argv)
    if args.steps < 1 or args.warmup < 1:
        p.error("--steps and --warmup must be >= 1")
    return args


if __name__ == "__main__":
    use_glibc_tunables()  # as train/celeba.py runs: malloc keeps freed memory (re-executes once)
    main(parse_args())
