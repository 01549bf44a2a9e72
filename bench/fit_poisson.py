"""Benchmark: Poisson fitting (supervised derivatives) with hypersiren against the official double backward.

    python bench/fit_poisson.py                                   # camera 256^2, gradient, 100 steps, fp32
    python bench/fit_poisson.py --precision bf16 --supervise laplacian
    python bench/fit_poisson.py --size 64 --steps 10 --derivatives forward   # forward mode for the gradient too

Both sides fit the finite-difference gradient (or Laplacian) of ``skimage.data.camera()`` at ``--size``^2,
in coordinate units, with a 256 x 3 hidden SIREN on every pixel per step, Adam ``--lr``, from the same
initial weights. The reference is the official code's way: the notebook's network (``nn.Linear`` then
``torch.sin(30 x)``, from ``bench/fit_image.py``) and ``diff_operators`` (autograd with
``create_graph=True``, then the loss's backward through both: the double backward), in float32.
hypersiren runs :func:`hypersiren.fitting.fit` with ``--derivatives`` (default ``fused``: the fused
value-and-gradient Function, forward mode for the Laplacian) at ``--precision``. Steps are interleaved so
that both see the same machine load; seconds per step are medians without the first step. PSNR is the
aligned PSNR (scale and offset fitted, as ``eval/fit.py poisson`` reports it) after the same number of
updates. The header gives the processor and the time of the step's dominant matmul (``N x 256 x 256``)
in each precision: what the hardware alone gives. The last line is the speed ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the reference network of fit_image.py, interleave.py

from fit_image import HIDDEN_FEATURES, HIDDEN_LAYERS, OMEGA_0, psnr, reference_from  # noqa: E402
from interleave import Reference, cpu_name, dominant_matmul, line, matmul_line, parse, parser  # noqa: E402

from hypersiren import Siren
from hypersiren.fitting import align
from hypersiren.fitting.loop import DERIVATIVES, fit  # noqa: E402
from hypersiren.fitting.signals import load_image  # noqa: E402
from hypersiren.siren import (  # noqa: E402
    grid,
    image_to_points,
    operators,  # noqa: E402
)

MILESTONES = (25, 50, 100, 200, 500)


def poisson_target(image: torch.Tensor, supervise: str) -> torch.Tensor:
    """``(1, S, S)`` image -> finite-difference gradient ``(N, 2)`` or Laplacian ``(N, 1)``, coordinate units."""
    img = image[None]  # (1, 1, S, S)
    if supervise == "gradient":
        return operators.image_gradient(img)[0, 0].flatten(1).T
    return image_to_points(operators.image_laplacian(img))[0]


def main(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    image = load_image(None, args.size)  # (1, S, S) in [-1, 1]
    coords, values = grid(args.size, args.size), image_to_points(image[None])[0]  # (N, 2), (N, 1)
    target = poisson_target(image, args.supervise)
    milestones = sorted({m for m in MILESTONES if m <= args.steps} | {args.steps})

    torch.manual_seed(args.seed)
    model = Siren(2, HIDDEN_FEATURES, HIDDEN_LAYERS, 1, OMEGA_0, OMEGA_0)
    ref = reference_from(model)

    def forward() -> tuple[torch.Tensor, torch.Tensor]:
        """The official double backward: derivatives by autograd with create_graph, then the loss."""
        x = coords.clone().requires_grad_(True)
        out = ref(x)
        derived = operators.gradient(out, x) if args.supervise == "gradient" else operators.laplacian(out, x)
        return ((derived - target) ** 2).mean(), out

    score = lambda out: psnr(align(out.detach(), values), values)  # noqa: E731
    reference_step = Reference(ref, args.lr, forward, score, milestones, args.steps)
    start = time.perf_counter()
    result = fit(
        model,
        coords,
        target,
        steps=args.steps,
        lr=args.lr,
        supervise=args.supervise,
        reference=values,
        log_steps=milestones,
        bf16=args.precision == "bf16",
        derivatives=args.derivatives,
        progress=False,
        on_step=reference_step if args.reference else None,
    )
    if args.reference:
        reference_step(args.steps)  # the reference's PSNR after its last update
    ours = {"seconds_per_step": result.seconds_per_step, "psnr": {s: result.history.at(s) for s in milestones}}
    report = {"hypersiren": ours, "total_seconds": time.perf_counter() - start}
    if args.reference:
        report["reference"] = reference_step.report()
    report["matmul"] = dominant_matmul(args.size * args.size, HIDDEN_FEATURES)
    return report


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__, steps=100)
    p.add_argument("--supervise", choices=("gradient", "laplacian"), default="gradient")
    p.add_argument("--derivatives", choices=DERIVATIVES, default="fused", help="hypersiren's derivative route")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4, the paper's)")
    return p


if __name__ == "__main__":
    args = parse(build_parser())
    report = main(args)
    date = time.strftime("%Y-%m-%d %H:%M")
    n = args.size * args.size
    print(
        f"camera {args.size}^2, Poisson from the {args.supervise}, SIREN 256x3 hidden, Adam {args.lr:g}, "
        f"all pixels per step, {args.threads} threads, {date}"
    )
    print(f"{cpu_name()}; {matmul_line(n, report['matmul'])}")
    ours = report["hypersiren"]
    print(line("hypersiren", ours, "aligned PSNR") + f" [{args.precision}, {args.derivatives} derivatives]")
    if args.reference:
        ref = report["reference"]
        print(line("reference", ref, "aligned PSNR") + " [fp32, official double backward]")
        ratio = ref["seconds_per_step"] / ours["seconds_per_step"]
        gap = ours["psnr"][args.steps] - ref["psnr"][args.steps]
        print(
            f"speed ratio: hypersiren {ratio:.2f}x the reference's steps per second (same run, interleaved); "
            f"PSNR after {args.steps} steps {gap:+.2f} dB"
        )
    else:
        print(f"hypersiren {ours['seconds_per_step']:.3f} s/step (no reference run)")
