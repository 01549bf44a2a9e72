"""Probe: test-time training of the whole prior on one face's observed pixels (docs/results.md, "Test-time
refinement").

For each face with the centre hole, a copy of the prior takes ``--steps`` Adam steps (``--lr``) on every weight,
encoder and hypernetwork, under bf16 autocast, against ``--masks`` masks per step: each hides, on top of the real
hole, a square of the hole's side shifted from it by up to ``--max_shift`` pixels on each axis (half the side by
default: 8 at 32x32; never the zero shift, which hides nothing). The loss is the mean over the masks of each one's
log MSE over the observed pixels it hid (the training loss's log MSE, on pixels whose answer is known). Then the
copy completes the real mask. The probe reports the hole PSNR of the prior ("before", ``eval/inpaint.py``'s
``psnr_missing`` with the same model, data and limit) and of the copies ("after"), per face: the mean change, its
standard error, the faces that got better, and the median seconds per face. The last line is that summary.

    python bench/probes/test_time_training.py --data ../shared/data/celeba32/test.npz --limit 100 --steps 10 --lr 1e-5
    python bench/probes/test_time_training.py --data ../shared/data/celeba32/test.npz --limit 100 --steps 5 --lr 3e-6
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hypersiren.app.sources import load_images, load_model  # noqa: E402
from hypersiren.data import to_model_range  # noqa: E402
from hypersiren.inpaint.pipeline import complete  # noqa: E402
from hypersiren.masks import make_observed  # noqa: E402
from hypersiren.metrics import inpainting_metrics, mse  # noqa: E402
from hypersiren.prior.model import HyperSiren  # noqa: E402
from hypersiren.training.losses import LOG_EPS  # noqa: E402
from hypersiren.utils import seeds  # noqa: E402


def shifted_masks(observed: torch.Tensor, side: int, count: int, max_shift: int, generator: torch.Generator):
    """``count`` masks, each ``observed`` with a ``side`` square hidden, shifted from the centre hole by a nonzero
    offset of at most ``max_shift`` per axis: ``(count, 1, S, S)`` bool.

    Args:
        observed: ``(1, 1, S, S)`` bool, the real mask (a centre hole of ``side``).
    """
    size = observed.shape[-1]
    offsets = [(dy, dx) for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)]
    offsets.remove((0, 0))  # the hole itself: nothing observed to hide
    picks = torch.randint(len(offsets), (count,), generator=generator).tolist()
    masks = observed.repeat(count, 1, 1, 1)  # (count, 1, S, S)
    corner = (size - side) // 2
    for k, pick in enumerate(picks):
        top, left = (max(0, min(size - side, corner + d)) for d in offsets[pick])
        masks[k, :, top : top + side, left : left + side] = False
    return masks


def hole_psnr(model: HyperSiren, x: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """The hole PSNR ``(B,)`` of ``model``'s completion of ``x`` ``(B, C, S, S)``, as eval/inpaint.py measures it."""
    context = torch.where(observed, x, torch.zeros_like(x))
    raw = complete(model, context, observed, chunk=8, encoder_dtype=torch.bfloat16)[0][""][0]
    return inpainting_metrics(raw, raw, x, observed)["psnr_missing"]


def adapt(copy_: HyperSiren, x: torch.Tensor, observed: torch.Tensor, side: int, args, generator_keys: tuple) -> None:
    """``args.steps`` Adam steps of ``copy_`` (in place) on the observed pixels of one face ``x`` ``(1, C, S, S)``."""
    params = [p for p in copy_.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=args.lr)
    for step in range(args.steps):
        masks = shifted_masks(observed, side, args.masks, args.max_shift, seeds.generator(*generator_keys, step))
        hidden = observed & ~masks  # (M, 1, S, S): the observed pixels each mask hid
        target = x.expand(len(masks), -1, -1, -1)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            out = copy_(torch.where(masks, target, torch.zeros_like(target)), masks)
        loss = torch.log(mse(out.images, target, hidden) + LOG_EPS).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def main(args: argparse.Namespace) -> dict:
    """Run the probe; returns the per-face summary (mean change in dB, its standard error, faces better, s/face)."""
    torch.set_num_threads(args.threads)
    model, name = load_model(args.model)
    size = model.config.image_size
    images, data_name = load_images(args.data, args.split, size, args.limit)
    observed = make_observed("center", len(images), size, size, center_frac=args.center_frac)  # (N, 1, S, S)
    side = int((~observed[0, 0]).any(1).sum())  # the hole's side
    args.max_shift = side // 2 if args.max_shift is None else args.max_shift
    print(
        f"data: {data_name}, {len(images):,} faces at {size}x{size}; model: {name}; {args.steps} steps at lr "
        f"{args.lr:g}, {args.masks} masks per step, squares of {side} shifted by up to {args.max_shift}"
    )
    x_all = to_model_range(images)  # (N, C, S, S)
    before = torch.cat([hole_psnr(model, x_all[i : i + 256], observed[i : i + 256]) for i in range(0, len(x_all), 256)])
    state, copy_ = copy.deepcopy(model.state_dict()), copy.deepcopy(model)
    after, seconds = [], []
    for i in tqdm(range(len(images)), desc="faces", unit="face"):
        t = time.perf_counter()
        copy_.load_state_dict(state)
        adapt(copy_, x_all[i : i + 1], observed[i : i + 1], side, args, (args.seed, i))
        after.append(hole_psnr(copy_, x_all[i : i + 1], observed[i : i + 1]))
        seconds.append(time.perf_counter() - t)
    change = torch.cat(after).double() - before.double()  # (N,)
    n = len(change)
    result = {
        "before": before.double().mean().item(),
        "after": torch.cat(after).double().mean().item(),
        "change": change.mean().item(),
        "stderr": (change.std() / n**0.5).item() if n > 1 else float("nan"),
        "better": int((change > 0).sum()),
        "faces": n,
        "seconds_per_face": statistics.median(seconds),
    }
    print(
        f"  hole PSNR {result['before']:.2f} -> {result['after']:.2f} dB; {min(seconds):.2f}-{max(seconds):.2f} s "
        f"per face, {sum(seconds):.0f} s in all"
    )
    print(
        f"test-time training on {data_name} ({n} faces, {args.steps} steps at lr {args.lr:g}): hole "
        f"{result['change']:+.2f} dB (+-{result['stderr']:.2f} standard error), {result['better']} of {n} faces "
        f"better, {result['seconds_per_face']:.2f} s per face (median)"
    )
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="celeba32", help="a shipped prior's name or a model folder (default celeba32)")
    p.add_argument("--data", default=None, help="an .npz, a folder or a Hub id (as eval/inpaint.py's --data)")
    p.add_argument("--split", default="test", help="the split of a folder or Hub id (default test)")
    p.add_argument("--limit", type=int, default=100, help="the first N faces (default 100)")
    p.add_argument("--steps", type=int, default=10, help="Adam steps per face (default 10)")
    p.add_argument("--lr", type=float, default=1e-5, help="Adam learning rate (default 1e-5)")
    p.add_argument("--masks", type=int, default=16, help="masks per step (default 16)")
    p.add_argument("--max_shift", type=int, default=None, help="largest shift per axis (default: half the hole)")
    p.add_argument("--center_frac", type=float, default=0.5, help="side of the centre hole / image side")
    p.add_argument("--seed", type=int, default=0, help="seeds the shifts")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = p.parse_args(argv)
    if min(args.limit, args.masks) < 1 or args.steps < 0 or args.lr <= 0 or (args.max_shift or 1) < 1:
        p.error("--limit, --masks and --max_shift must be positive, --steps >= 0, --lr > 0")
    return args


if __name__ == "__main__":
    main(parse_args())
