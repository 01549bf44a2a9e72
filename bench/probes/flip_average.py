"""Probe: average each completion with the completion of the mirrored face, mirrored back (docs/results.md,
"Test-time refinement").

Each face is completed twice by the same prior: as it is, and mirrored left to right (its mask mirrored too) with
the output mirrored back; the probe reports the hole PSNR of the first completion ("before", the number
``eval/inpaint.py`` reports as ``psnr_missing`` for the same model, data, mask and limit) and of the mean of the
two raw outputs ("after"), per image then averaged (:func:`hypersiren.metrics.inpainting_metrics`), with the
seconds each took. The completions are :func:`hypersiren.inpaint.pipeline.complete` with the evaluation's
defaults (bf16 encoder, SIRENs rendered 8 faces at a time). The last line is the change.

    python bench/probes/flip_average.py --model celeba32 --data ../shared/data/celeba32/test.npz --limit 1000
    python ../shared/data/celeba64/unpack.py data/celeba64      # once: the 64x64 faces as npz
    python bench/probes/flip_average.py --model celeba64 --data data/celeba64/test.npz --limit 500
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hypersiren.app.reports import mean  # noqa: E402
from hypersiren.app.sources import load_images, load_model  # noqa: E402
from hypersiren.data import to_model_range  # noqa: E402
from hypersiren.inpaint.pipeline import complete  # noqa: E402
from hypersiren.masks import KINDS, make_observed  # noqa: E402
from hypersiren.metrics import inpainting_metrics  # noqa: E402
from hypersiren.prior.model import HyperSiren, paste_observed  # noqa: E402
from hypersiren.utils import seeds  # noqa: E402


def flip_average(
    model: HyperSiren, images: torch.Tensor, observed: torch.Tensor, batch_size: int = 256
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Per-image hole PSNR of the plain completion and of its flip average, and the seconds of each.

    Args:
        images: ``(N, C, S, S)`` uint8.
        observed: ``(N, 1, S, S)`` bool.

    Returns:
        ``({"before": (N,), "after": (N,)}, {"before": seconds, "after": seconds of the mirrored pass})``.
    """
    kw = {"chunk": 8, "encoder_dtype": torch.bfloat16}  # eval/inpaint.py's defaults
    per_image: dict[str, list[torch.Tensor]] = {"before": [], "after": []}
    seconds = {"before": 0.0, "after": 0.0}
    for start in tqdm(range(0, len(images), batch_size), desc="batches", unit="batch", leave=False):
        x = to_model_range(images[start : start + batch_size])  # (B, C, S, S)
        obs = observed[start : start + batch_size]  # (B, 1, S, S)
        context = torch.where(obs, x, torch.zeros_like(x))
        t = time.perf_counter()
        raw = complete(model, context, obs, **kw)[0][""][0]
        seconds["before"] += time.perf_counter() - t
        t = time.perf_counter()
        mirrored = complete(model, context.flip(-1), obs.flip(-1), **kw)[0][""][0].flip(-1)  # mirrored back
        seconds["after"] += time.perf_counter() - t
        for key, out in (("before", raw), ("after", (raw + mirrored) / 2)):
            metrics = inpainting_metrics(out, paste_observed(out, x, obs), x, obs)
            per_image[key].append(metrics["psnr_missing"])
    return {k: torch.cat(v) for k, v in per_image.items()}, seconds


def main(args: argparse.Namespace) -> dict:
    """Run the probe; returns the mean hole PSNR before and after (dB), their difference and the seconds."""
    torch.set_num_threads(args.threads)
    model, name = load_model(args.model)
    size = model.config.image_size
    images, data_name = load_images(args.data, args.split, size, args.limit)
    observed = make_observed(
        args.mask,
        len(images),
        size,
        size,
        num_context=args.num_context,
        center_frac=args.center_frac,
        generator=seeds.generator(args.seed, 0),
    )
    print(f"data: {data_name}, {len(images):,} images at {size}x{size}; model: {name}; mask: {args.mask}")
    per_image, seconds = flip_average(model, images, observed, args.batch_size)
    before, after = mean(per_image["before"]), mean(per_image["after"])
    better = int((per_image["after"] > per_image["before"]).sum())
    result = {
        "before": before,
        "after": after,
        "change": after - before,
        "better": better,
        "images": len(images),
        "seconds_before": seconds["before"],
        "seconds_mirrored": seconds["after"],
    }
    print(f"  completion: {before:.2f} dB in {seconds['before']:.1f} s; mirrored pass {seconds['after']:.1f} s")
    print(
        f"flip average on {data_name} ({len(images):,} images, {args.mask}, {name}): PSNR(missing) {before:.2f} -> "
        f"{after:.2f} dB ({after - before:+.2f} dB, {better} of {len(images)} images better)"
    )
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="a shipped prior's name or a model folder (default: the shipped one)")
    p.add_argument("--data", default=None, help="an .npz, a folder or a Hub id (as eval/inpaint.py's --data)")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--mask", default="center", choices=KINDS, help="the mask kind (default center)")
    p.add_argument("--num_context", type=int, default=100, help="context pixels of mask random / bernoulli")
    p.add_argument("--center_frac", type=float, default=0.5, help="side of the center hole / image side")
    p.add_argument("--seed", type=int, default=0, help="seeds the masks (as eval/inpaint.py's --seed)")
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = p.parse_args(argv)
    if args.mask == "file":
        p.error("--mask file is not supported here: use a kind that needs no mask image")
    if min(args.batch_size, args.limit or 1) < 1:
        p.error("--batch_size and --limit must be positive")
    return args


if __name__ == "__main__":
    main(parse_args())
