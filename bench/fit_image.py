"""Benchmark: fit the camera image with hypersiren's ``fit()`` and with the official notebook's SIREN.

    python bench/fit_image.py                      # 256^2, 200 steps, both implementations
    python bench/fit_image.py --size 128 --steps 50 --precision fp32

Both fit ``skimage.data.camera()`` at ``--size``^2 with a 256 x 3 hidden SIREN on every pixel per step,
Adam 1e-4, from the same initial weights. The reference is written here as the official notebook does
it (``nn.Linear`` then ``torch.sin(omega_0 * .)``, coordinates with ``requires_grad``). The two runs are
interleaved step by step so that both see the same machine load (these cores are shared); seconds per
step are medians that exclude the first step (which holds any compilation, reported separately).
The last line is the speed ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # what the benchmarks share

from interleave import (  # noqa: E402
    Reference,
    bound_line,
    cpu_name,
    dominant_matmul,
    line,
    matmul_line,
    parse,
    parser,
    sine_seconds,
    step_bound,
)

from hypersiren import Siren
from hypersiren.fitting import fit  # noqa: E402
from hypersiren.fitting.signals import load_image  # noqa: E402
from hypersiren.metrics import image as metrics  # noqa: E402
from hypersiren.siren import grid, image_to_points  # noqa: E402

HIDDEN_FEATURES, HIDDEN_LAYERS, OMEGA_0, LR = 256, 3, 30.0, 1e-4
MILESTONES = (50, 100, 200)


class ReferenceSineLayer(nn.Module):
    """The official notebook's ``SineLayer``: ``sin(omega_0 * linear(x))``."""

    def __init__(self, in_features: int, out_features: int, omega_0: float = OMEGA_0) -> None:
        super().__init__()
        self.omega_0 = omega_0
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega_0 * self.linear(x))


def reference_from(model: Siren) -> nn.Sequential:
    """The notebook's network with ``model``'s initial weights (same names: ``net.i.linear``, ``last``)."""
    layers = [ReferenceSineLayer(2, HIDDEN_FEATURES)]
    layers += [ReferenceSineLayer(HIDDEN_FEATURES, HIDDEN_FEATURES) for _ in range(HIDDEN_LAYERS)]
    ref = nn.Sequential(*layers, nn.Linear(HIDDEN_FEATURES, 1))
    with torch.no_grad():
        for i, layer in enumerate(model.net):
            ref[i].linear.weight.copy_(layer.linear.weight)
            ref[i].linear.bias.copy_(layer.linear.bias)
        ref[-1].weight.copy_(model.last.weight)
        ref[-1].bias.copy_(model.last.bias)
    return ref


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """On [0, 1] with the prediction clipped (values here are in [-1, 1]), as ``fit()`` reports it."""
    return metrics.psnr(prediction.detach().clamp(-1, 1)[None], target[None], data_range=2.0).item()


def main(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    image = load_image(None, args.size)  # (1, S, S) in [-1, 1]
    coords, target = grid(args.size, args.size), image_to_points(image[None])[0]  # (N, 2), (N, 1)
    milestones = sorted({m for m in MILESTONES if m <= args.steps} | {args.steps})

    torch.manual_seed(args.seed)
    model = Siren(2, HIDDEN_FEATURES, HIDDEN_LAYERS, 1, OMEGA_0, OMEGA_0)
    ref = reference_from(model)
    ref_coords = coords.clone().requires_grad_(True)  # as the notebook does

    def forward() -> tuple[torch.Tensor, torch.Tensor]:
        out = ref(ref_coords)
        return ((out - target) ** 2).mean(), out

    reference = Reference(ref, LR, forward, lambda out: psnr(out, target), milestones, args.steps)
    start = time.perf_counter()
    result = fit(
        model,
        coords,
        target,
        steps=args.steps,
        lr=LR,
        log_steps=milestones,
        bf16=args.precision == "bf16",
        compile=args.compile,
        progress=False,
        on_step=reference if args.reference else None,
    )
    if args.reference:
        reference(args.steps)  # the reference's PSNR after its last update
    total = time.perf_counter() - start
    ours = {
        "seconds_per_step": result.seconds_per_step,
        "first_step_seconds": result.step_seconds[0],
        "psnr": {s: result.history.at(s) for s in milestones},
    }
    report = {"hypersiren": ours}
    if args.reference:
        report["reference"] = reference.report()
    report["total_seconds"] = total
    n = args.size * args.size
    report["matmul"], report["sine"] = dominant_matmul(n, HIDDEN_FEATURES), sine_seconds(n, HIDDEN_FEATURES)
    return report


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__, steps=200)
    p.add_argument("--compile", action="store_true", help="torch.compile hypersiren's model (eager fallback)")
    return p


if __name__ == "__main__":
    args = parse(build_parser())
    report = main(args)
    date = time.strftime("%Y-%m-%d %H:%M")
    print(f"camera {args.size}^2, SIREN 256x3 hidden, Adam {LR:g}, all pixels per step, {args.threads} threads, {date}")
    n = args.size * args.size
    sine = report["sine"]
    print(
        f"{cpu_name()}; {matmul_line(n, report['matmul'])}; sine over {n} x {HIDDEN_FEATURES}: fp32 "
        f"{sine['fp32'] * 1e3:.1f} ms, bf16 {sine['bf16'] * 1e3:.1f} ms"
    )
    ours = report["hypersiren"]
    bounds = {p: step_bound(report["matmul"], sine, p, HIDDEN_LAYERS, HIDDEN_LAYERS + 1) for p in ("fp32", "bf16")}
    flags = args.precision
    if args.compile:
        flags += f", compiled: first step {ours['first_step_seconds']:.1f} s"
    print(line("hypersiren", ours) + f" [{flags}]")
    print(bound_line(ours["seconds_per_step"], bounds[args.precision], "hypersiren", args.precision))
    if not args.reference:
        print(f"hypersiren {ours['seconds_per_step']:.3f} s/step (no reference run)")
        sys.exit(0)
    ref = report["reference"]["seconds_per_step"]
    print(line("reference", report["reference"]))
    print(
        bound_line(ref, bounds["fp32"], "reference", "fp32") + f"; hypersiren [{args.precision}] can reach at most "
        f"{ref / bounds[args.precision]:.2f}x the reference"
    )
    print(
        f"speed ratio: hypersiren {ref / ours['seconds_per_step']:.2f}x the reference's steps per second "
        "(same run, interleaved)"
    )
