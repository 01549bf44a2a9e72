"""What the benchmarks share: the processor's name, and the reference's half of an interleaved comparison.

hypersiren's ``fit()`` calls the reference once after each of its own updates (``on_step``), so both sides
see the same machine load on shared cores; seconds per step are medians without the first step (which holds
warm-up and any compilation).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
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

    def __init__(
        self,
        model: torch.nn.Module,
        lr: float,
        forward: Callable[[], tuple[torch.Tensor, torch.Tensor]],
        score: Callable[[torch.Tensor], float],
        milestones: Sequence[int],
        steps: int,
    ) -> None:
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


def best(fn: Callable[[], object], repeats: int = 5) -> float:
    """The fastest of ``repeats`` timed calls of ``fn``, after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@contextlib.contextmanager
def _onednn_fp32_matmuls():
    """Let oneDNN take float32 matmuls ("bf16 math allowed": it keeps float32 math where it has no bf16 kernel)."""
    backend = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    old = getattr(backend, "fp32_precision", None)
    if old is not None:
        backend.fp32_precision = "bf16"
    try:
        yield old is not None
    finally:
        if old is not None:
            backend.fp32_precision = old


def dominant_matmul(n: int, width: int) -> dict:
    """Seconds of ``(n, width) @ (width, width)`` in fp32 (default kernel), fp32 through oneDNN, and bf16; best of 5.

    Also the relative error of the oneDNN product against float64, which says whether it kept float32 math.
    """
    g = torch.Generator().manual_seed(0)
    h = torch.rand(n, width, generator=g) * 2 - 1
    w = (torch.rand(width, width, generator=g) * 2 - 1) * (6 / width) ** 0.5

    hb, wb = h.bfloat16(), w.bfloat16()
    out = {"width": width, "fp32": best(lambda: h @ w.t()), "bf16": best(lambda: hb @ wb.t())}
    with _onednn_fp32_matmuls() as available:
        if available:
            out["onednn"] = best(lambda: h @ w.t())
            exact = h.double() @ w.double().t()
            out["onednn_error"] = float(((h @ w.t()).double() - exact).norm() / exact.norm())
    return out


def matmul_line(n: int, mm: dict) -> str:
    """The header's account of :func:`dominant_matmul`, ending with the hardware's own bf16 gain."""
    line = f"dominant matmul {n} x {mm['width']} x {mm['width']}: fp32 {mm['fp32'] * 1e3:.1f} ms (default)"
    if "onednn" in mm:
        kept = "float32 math" if mm["onednn_error"] < 1e-5 else "bf16 math"
        line += f", fp32 via oneDNN {mm['onednn'] * 1e3:.1f} ms (rel. error {mm['onednn_error']:.0e}: {kept})"
    return line + f", bf16 {mm['bf16'] * 1e3:.1f} ms: bf16 {mm['fp32'] / mm['bf16']:.2f}x the default fp32"


def sine_seconds(n: int, width: int) -> dict:
    """Seconds of ``torch.sin`` over ``(n, width)`` values in fp32 and in bf16; best of 5."""
    x = torch.rand(n, width, generator=torch.Generator().manual_seed(0)) * 60 - 30
    xb = x.bfloat16()
    return {"fp32": best(lambda: torch.sin(x)), "bf16": best(lambda: torch.sin(xb))}


# A SIREN step on every pixel (Adam on its own weights) cannot do less than this: per hidden 256 x 256 layer one
# forward matmul and two backward (input and weight gradients), and per sine layer one sine forward and one cosine
# backward pass over (pixels, 256) values. The first layer (2 inputs) and the output layer (1) are a rounding error.
def step_bound(mm: dict, sine: dict, precision: str, hidden_layers: int, sine_layers: int) -> float:
    """The least seconds per step of a SIREN fit at this machine's measured matmul and sine speeds."""
    return 3 * hidden_layers * mm[precision] + 2 * sine_layers * sine[precision]


def bound_line(seconds: float, bound: float, name: str, precision: str) -> str:
    """How close one side's median step comes to its :func:`step_bound`."""
    return f"{name}: {bound / seconds:.0%} of the {precision} bound ({bound:.3f} s/step: matmuls + sine/cosine passes)"


def train_script():
    """``train/celeba.py`` as a module (its ``TrainConfig``, ``parse_args`` and ``model_config``): a script, not a
    package, loaded by path."""
    path = Path(__file__).resolve().parents[1] / "train" / "celeba.py"
    spec = importlib.util.spec_from_file_location("bench_train_celeba", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module
