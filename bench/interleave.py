"""What the benchmarks share: the processor's name, and the reference's half of an interleaved comparison.

hypersiren's ``fit()`` calls the reference once after each of its own updates (``on_step``), so both sides
see the same machine load on shared cores; seconds per step are medians without the first step (which holds
warm-up and any compilation).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch


def cpu_name() -> str:
    """The processor's model name and its bf16 instructions (Linux), for a benchmark's header."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    isa = "AMX-BF16" if "amx_bf16" in flags else "AVX512-BF16 (no AMX)" if "avx512_bf16" in flags else "no bf16 ISA"
    return f"{name}, {isa}"


def parser(doc: str, steps: int) -> argparse.ArgumentParser:
    """The options every fitting benchmark has; each adds its own."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256, help="image side (default 256)")
    p.add_argument("--steps", type=int, default=steps, help=f"optimiser steps (default {steps})")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="hypersiren's matmuls")
    p.add_argument("--no_reference", dest="reference", action="store_false", help="skip the reference")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    return p


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """A fitting benchmark's command line; ``--steps < 1`` or ``--size < 2`` ends with ``error: ...``, status 2."""
    args = parser.parse_args(argv)
    if args.steps < 1 or args.size < 2:
        print("error: --steps must be >= 1 and --size >= 2", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(level=logging.WARNING)
    return args


def median_after_first(times: Sequence[float]) -> float:
    """The median step time without the first step (the median of all when there is only one)."""
    rest = list(times[1:]) or list(times)
    return sorted(rest)[len(rest) // 2]


class Reference:
    """The reference side: one Adam update per call, timed, and its PSNR after ``step`` updates at milestones.

    Args:
        model: the reference network.
        lr: its Adam learning rate.
        forward: ``() -> (loss, output)`` of the current reference.
        score: ``output -> PSNR`` for the milestones.
        milestones: the steps whose PSNR is recorded; ``steps``: the last one (no update after it).
    """

    def __init__(self, model: torch.nn.Module, lr: float, forward: Callable[[], tuple[torch.Tensor, torch.Tensor]],
                 score: Callable[[torch.Tensor], float], milestones: Sequence[int], steps: int) -> None:  # fmt: skip
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.forward, self.score, self.milestones, self.steps = forward, score, set(milestones), steps
        self.times: list[float] = []
        self.psnr: dict[int, float] = {}

    def __call__(self, step: int) -> None:
        """One reference update, run after each hypersiren update (``fit(..., on_step=...)``)."""
        start = time.perf_counter()
        loss, out = self.forward()
        if step in self.milestones:  # PSNR after `step` updates
            self.psnr[step] = self.score(out)
        if step == self.steps:
            return
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.times.append(time.perf_counter() - start)

    def report(self) -> dict:
        """``{"seconds_per_step": median, "psnr": {step: dB}}`` (the psnr in milestone order)."""
        return {"seconds_per_step": median_after_first(self.times), "psnr": dict(sorted(self.psnr.items()))}


def line(name: str, entry: dict, what: str = "PSNR") -> str:
    """One side's result line: median seconds per step and its PSNR curve."""
    curve = " / ".join(f"{v:.2f}" for v in entry["psnr"].values())
    at = " / ".join(str(k) for k in entry["psnr"])
    return f"{name:>11}: {entry['seconds_per_step']:.3f} s/step (median), {what} {curve} dB at steps {at}"
