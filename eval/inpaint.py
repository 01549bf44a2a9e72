"""Complete faces with a trained HyperSiren, measure how well, and show it (SIREN Sec. 4.4, Table 2).

    python eval/inpaint.py --mask center                                  # shipped model, CelebA test split
    python eval/inpaint.py --data ../shared/data/celeba32/test.npz --protocol paper --out runs/eval
    python eval/inpaint.py --mask random --num_context 100 --refine_steps 50 --limit 500
    python eval/inpaint.py --mask file --mask_path hole.png --render_size 128 --limit 16
    python eval/inpaint.py --method biharmonic --mask random --num_context 1000 --limit 1000   # a classical fill
    python eval/inpaint.py --image photo.jpg --mask_path hole.png --render_size 256  # one picture of yours

Writes ``OUT/metrics.json`` (means per setting, plus ``meta``), ``OUT/per_image.csv`` and one figure per
setting, ``OUT/grid_{setting}.png`` (ground truth | observed | inpainted [| refined] [| rendered at
``--render_size``]), prints a table, and ends with a one-line summary.

Metrics (``hypersiren.metrics``), per image on [0, 1], then averaged: ``mse`` is the paper's (the raw
SIREN output clipped, every pixel, context included); ``mse_missing`` / ``psnr_missing`` cover the
missing pixels only; ``ssim`` and ``lpips`` compare the completed image (observed pixels pasted back).
``--protocol paper`` evaluates context 10, 100, 1000 (Bernoulli p = N / (H W), as the official code
tests its CNN encoder; ``--context_sampling exact`` draws exactly N pixels, the CNP protocol), half
and full, beside the paper's numbers.

``--method mean|nearest|linear|biharmonic`` replaces the model's completion by a classical fill
(``hypersiren.classical``: scipy / scikit-image, observed pixels kept) under exactly the same masks
(same seeds per setting) and metrics; its "raw" output is the filled image itself. No model is loaded:
the image size is ``--image_size``, else the ``image_size`` in the model folder's ``config.json``.

``--image PATH`` completes one picture of any size instead: like the training faces it is centre-cropped to
a square and resized to the model's side; a ``--mask_path`` mask goes through the identical crop and resize
(``hypersiren.picture``). It writes ``OUT/{name}_observed.png``, ``OUT/{name}_completed.png`` (the model's
resolution, observed pixels kept), ``OUT/{name}_rendered{S}.png`` (the same SIREN at ``--render_size``,
default 8x the model's side) and ``OUT/metrics.json`` (the picture is its own ground truth).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from tqdm.auto import tqdm

import hypersiren
from hypersiren import classical, perceptual, pretrained, seeds
from hypersiren import metrics as M
from hypersiren.data import DEFAULT_HUB_ID, DataError, celeba_dataset, to_model_range, to_uint8
from hypersiren.masks import KINDS, MaskError, make_observed
from hypersiren.model import CONFIG_NAME, CheckpointError, HyperSiren, paste_observed
from hypersiren.picture import check_hole, load_picture
from hypersiren.refine import refine

logger = logging.getLogger("eval.inpaint")

PACKAGE_DIR = Path(hypersiren.__file__).resolve().parent
DEFAULT_MODEL = PACKAGE_DIR / "pretrained" / pretrained.DEFAULT
DEMO_IMAGES = PACKAGE_DIR / "assets" / "demo32.npz"
# Table 2 of the paper (MSE on [0, 1], CelebA 32x32 test split); CNP verified in Garnelo et al. 2018.
PAPER = {
    "10": {"SIREN CNN+HN": 0.033, "CNP": 0.039, "SIREN set+HN": 0.035},
    "100": {"SIREN CNN+HN": 0.009, "CNP": 0.016, "SIREN set+HN": 0.013},
    "1000": {"SIREN CNN+HN": 0.008, "CNP": 0.009, "SIREN set+HN": 0.009},
}
METRICS = ("mse", "psnr", "mse_missing", "psnr_missing", "ssim", "lpips")
NUM_SHOWN = 8  # images in each figure
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class EvalError(ValueError):
    """A bad command line or model source, reported as ``error: ...`` with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eval/inpaint.py",
        description=__doc__.split("\n\n")[0],
        epilog="Numbers are per image, then averaged. LPIPS backbone weights: --lpips_weights or "
        f"${perceptual.LPIPS_WEIGHTS_ENV}; without them LPIPS is reported as unavailable.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default=None, help=f"a shipped prior's name ({', '.join(pretrained.available())}), "
                   f"a checkpoint folder or a Hub id (default: the shipped {pretrained.DEFAULT})")  # fmt: skip
    p.add_argument("--method", default="model", choices=("model", *classical.METHODS),
                   help="model: the HyperSiren's completion; otherwise a classical fill (scipy / scikit-image) "
                   "under the same masks and metrics, with no model loaded")  # fmt: skip
    p.add_argument("--image_size", type=int, default=None,
                   help="evaluation side (default: the model's config.json); a model of another size reads the "
                   "pictures resampled to its own and renders its SIRENs at this side")  # fmt: skip
    p.add_argument("--data", default=None, help=f"npz file, folder or Hub id (default: {DEFAULT_HUB_ID}, falling "
                   "back to the bundled demo images when offline)")  # fmt: skip
    p.add_argument("--image", default=None, help="complete this one picture (any size: centre-cropped to a square, "
                   "then resized to the model's side) and write it as PNGs; replaces --data")  # fmt: skip
    p.add_argument("--split", default="test", help="train | val | test")
    p.add_argument("--mask", default=None, choices=KINDS,
                   help="which pixels are observed (default: center, or file when --mask_path is given)")  # fmt: skip
    p.add_argument("--num_context", type=int, default=100, help="context pixels for --mask random/bernoulli")
    p.add_argument("--center_frac", type=float, default=0.5, help="side of the center hole / image side")
    p.add_argument("--mask_path", default=None, help="mask image for --mask file (white = missing; cropped and "
                   "resized exactly like the pictures)")  # fmt: skip
    p.add_argument(
        "--protocol",
        default=None,
        choices=["paper", "scaled"],
        help="paper: context 10/100/1000, half, full (overrides --mask); scaled: the same with the counts scaled by "
        "the pixel count over 32x32 (40/400/4000 at 64x64)",
    )
    p.add_argument("--context_sampling", default="bernoulli", choices=["bernoulli", "exact"],
                   help="--protocol paper context: Bernoulli p=N/(HW) (official CNN test) or exactly N")  # fmt: skip
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--batch_size", type=int, default=256, help="images per forward pass")
    p.add_argument("--decode_chunk", type=int, default=8,
                   help="render the SIRENs this many images at a time (cache-friendly; same results)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seeds the masks")
    p.add_argument("--out", default="runs/inpaint", help="output folder")
    p.add_argument("--render_size", type=int, default=None,
                   help="also render the completed SIRENs at this side in the figure (metrics stay at the "
                   "model's resolution, where ground truth exists); --image: default 8x the model's side")  # fmt: skip
    p.add_argument("--refine_steps", type=int, default=0, help="test-time Adam steps on the observed pixels")
    p.add_argument("--refine_lr", type=float, default=1e-2, help="Adam learning rate of the refinement")
    p.add_argument("--refine_weights", action="store_true", help="refine offsets on the generated weights too")
    p.add_argument("--refine_anchor", type=float, default=0.0,
                   help="weight of mean((z - z_encoder)^2) in the refinement objective")  # fmt: skip
    p.add_argument("--refine_holdout", type=float, default=0.0,
                   help="share of observed pixels left out of the refinement fit, to pick its iterate")  # fmt: skip
    p.add_argument(
        "--lpips_weights", default=None, help=f"AlexNet weights .npz/.pth (or ${perceptual.LPIPS_WEIGHTS_ENV})"
    )
    p.add_argument("--no_lpips", action="store_true", help="skip LPIPS (reported as unavailable)")
    p.add_argument("--bf16_encoder", action=argparse.BooleanOptionalAction, default=True,
                   help="run the encoder under bf16 autocast (1.8x faster on this CPU, latent within 1%%; the "
                   "hypernetwork and SIREN always run in fp32)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    return p


def load_model(spec: str | None, device: str) -> tuple[HyperSiren, str]:
    """A HyperSiren and its name as the user gave it: a shipped prior's name (default the package's
    ``pretrained.DEFAULT``), a folder or a Hub id."""
    path = Path(spec).expanduser() if spec else DEFAULT_MODEL
    if path.exists() or spec is None or spec.startswith((".", "/", "~")):
        if not path.is_dir():
            hint = " (the package ships no checkpoint yet: pass --model DIR)" if spec is None else ""
            raise EvalError(f"model folder not found: {path}{hint}")
        return HyperSiren.from_pretrained(str(path)).to(device).eval(), spec or pretrained.DEFAULT
    if spec in pretrained.available():
        return HyperSiren.from_pretrained(spec).to(device).eval(), spec
    if "/" not in spec:
        raise EvalError(f"model {spec!r}: no such folder, and no shipped prior has that name (shipped: "
                        f"{', '.join(pretrained.available())})")  # fmt: skip
    if not _hub_reachable():
        raise EvalError(f"model {spec!r}: no such folder, and the Hub (for a model id) is unreachable")
    try:
        return HyperSiren.from_pretrained(spec).to(device).eval(), f"hub:{spec}"
    except CheckpointError:
        raise
    except Exception as err:  # huggingface_hub raises many types (offline, 404, auth)
        raise EvalError(f"cannot load model {spec!r}: not a local folder, and from the Hub: {err}") from None


def model_image_size(spec: str | None) -> int:
    """The ``image_size`` in a shipped prior's or a local model folder's ``config.json``, loading no weights."""
    path = Path(spec).expanduser() if spec else DEFAULT_MODEL
    if spec in pretrained.available():
        path = pretrained.path(spec)
    config = path / CONFIG_NAME
    if not config.is_file():
        raise EvalError(f"a classical --method needs --image_size, or a local --model folder whose {CONFIG_NAME} "
                        f"gives it ({config} not found)")  # fmt: skip
    try:
        return int(json.loads(config.read_text())["image_size"])
    except (ValueError, KeyError, TypeError) as err:
        raise EvalError(f"no image_size in {config} ({type(err).__name__}: {err}); pass --image_size") from None


def _hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _demo_images(image_size: int, limit: int | None) -> torch.Tensor:
    with np.load(DEMO_IMAGES) as arrays:
        images = torch.from_numpy(arrays["images"][:limit]).permute(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
    if images.shape[-1] != image_size:
        images = torch.nn.functional.interpolate(images.float(), size=(image_size, image_size), mode="bilinear",
                                                 antialias=True).round().clamp(0, 255).to(torch.uint8)  # fmt: skip
    return images


def load_images(spec: str | None, split: str, image_size: int, limit: int | None) -> tuple[torch.Tensor, str]:
    """All evaluation images as ``(N, 3, S, S)`` uint8, and the name of the data (e.g. "celeba32 test.npz")."""
    source = spec or DEFAULT_HUB_ID
    if spec is None and not _hub_reachable():
        dataset = None
        reason = "the Hub is unreachable"
    else:
        try:
            dataset = celeba_dataset(source, split=split, image_size=image_size, limit=limit)
        except DataError as err:
            if spec is not None:
                raise
            dataset, reason = None, str(err)
    if dataset is None:
        images = _demo_images(image_size, limit)
        logger.warning("no data (%s): using the bundled demo images %s", reason, DEMO_IMAGES)
        return images, "bundled demo images (scikit-image, public domain/CC0; NOT CelebA)"
    if hasattr(dataset, "images"):
        images = dataset.images
    else:  # lazily decoded folder / Hub split
        images = torch.stack([dataset.uint8(i) for i in tqdm(range(len(dataset)), desc="decoding", leave=False)])
    path = Path(source).expanduser()
    if path.is_file():
        name = f"{path.parent.name} {path.name}"
    elif path.is_dir():
        name = f"{path.name} {split} split"
    else:
        name = f"hub:{source} {split} split"
    return images, name


def settings(args: argparse.Namespace, image_size: int = 32) -> list[tuple[str, str, int | None]]:
    """(key, mask kind, num_context) for each evaluation."""
    if args.protocol in ("paper", "scaled"):
        kind = "bernoulli" if args.context_sampling == "bernoulli" else "random"
        factor = image_size**2 // 1024 if args.protocol == "scaled" else 1
        counts = [(str(n * factor), n * factor) for n in (10, 100, 1000)]
        return [(key, kind, n) for key, n in counts] + [("half", "half", None), ("full", "full", None)]
    if args.mask in ("random", "bernoulli"):
        return [(f"{args.mask}_{args.num_context}", args.mask, args.num_context)]
    return [(args.mask, args.mask, None)]


def complete_image(model: HyperSiren, model_name: str, args: argparse.Namespace) -> dict:
    """``--image``: complete one picture, write it as PNGs beside ``metrics.json``; returns what that holds."""
    t0 = time.perf_counter()
    size = model.config.image_size
    render_size = args.render_size or 8 * size
    if args.protocol is not None or args.data is not None:
        raise EvalError("--image completes one picture: --data and --protocol do not apply to it")
    kind = args.mask
    picture = load_picture(args.image, size, args.mask_path if kind == "file" else None)
    if kind == "file":
        observed = picture.observed[None]  # (1, 1, S, S)
    else:
        observed = make_observed(kind, 1, size, size, num_context=args.num_context, center_frac=args.center_frac,
                                 generator=seeds.generator(args.seed))  # fmt: skip
    (width, height), (left, top, right, bottom) = picture.source_size, picture.box
    if picture.cropped:
        print(f"note: the picture is {width}x{height}; like the faces the model learnt from, it is centre-cropped to "
              f"its middle {right - left}x{bottom - top} square (x {left}..{right}, y {top}..{bottom}) and resized to "
              f"{size}x{size}")  # fmt: skip
    if picture.marked_outside > 0.001:
        print(f"warning: {picture.marked_outside:.0%} of the mask lies outside that square and is ignored")
    if kind != "full":
        check_hole(observed)
    x = to_model_range(picture.image[None]).to(args.device)  # (1, 3, S, S)
    obs = observed.to(args.device)
    context = torch.where(obs, x, torch.zeros_like(x))  # the model never sees a missing pixel
    with torch.inference_mode():
        raw = model.render(context, obs)  # (1, 3, S, S), for the paper's all-pixel MSE
        completed = model.inpaint(context, obs)  # observed pixels kept
        rendered = model.render(context, obs, render_size, render_size)  # (1, 3, R, R)
    outputs = {"": completed}
    if args.refine_steps > 0:
        r = refine(model, context, obs, args.refine_steps, args.refine_lr)
        outputs["refined_"] = torch.where(obs, x, r.images.detach().clamp(-1, 1))
    lpips_model = None if args.no_lpips else perceptual.load_lpips(args.lpips_weights)
    result: dict = {}
    for prefix, filled in outputs.items():
        values = M.inpainting_metrics(raw if not prefix else filled, filled, x, obs, lpips_model)
        result.update({prefix + k: _mean(v) for k, v in values.items()})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.image).stem
    hole_colour = torch.tensor([0.45, 0.55, 0.75]) * 2 - 1  # the figures' colour for missing pixels
    files = {"observed": torch.where(obs, x, hole_colour[:, None, None].to(x)), "completed": completed,
             f"rendered{render_size}": rendered}  # fmt: skip
    if "refined_" in outputs:
        files["refined"] = outputs["refined_"]
    written = []
    for suffix, image in files.items():
        path = out / f"{stem}_{suffix}.png"
        save_png(image[0], path)
        written.append(path.name)
    shown = {"truth": x.cpu(), "context": context.cpu(), "observed": obs.cpu(), "inpainted": completed.cpu(),
             "rendered": rendered.cpu()}  # fmt: skip
    if "refined_" in outputs:
        shown["refined_inpainted"] = outputs["refined_"].cpu()
    save_figure(shown, out / f"grid_{stem}.png", f"{Path(args.image).name} | {kind} | {model_name}")
    result.update(mask=kind, num_missing=int((~obs).sum()), source_size=[width, height],
                  crop_box=list(picture.box), mask_outside_crop=round(picture.marked_outside, 4),
                  render_size=render_size, files=written)  # fmt: skip
    results = {"image": result, "meta": {"image": str(args.image), "model": model_name, "image_size": size,
               "seed": args.seed, "refine": {"steps": args.refine_steps, "lr": args.refine_lr},
               "lpips": "unavailable" if lpips_model is None else "alexnet v0.1, upsampled to 64",
               "seconds": round(time.perf_counter() - t0, 2),
               "definitions": "the picture (cropped and resized) is its own ground truth; mse: all pixels, "
               "*_missing: the hole only, [0,1]"}}  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"completed {Path(args.image).name} ({width}x{height} -> {size}x{size}, {result['num_missing']} missing "
          f"pixels, {kind}): PSNR over the hole {_fmt(result['psnr_missing'], 2)} dB, SSIM {_fmt(result['ssim'], 3)} "
          f"-> {out / written[1]}, {written[2]}")  # fmt: skip
    return results


def save_png(image: torch.Tensor, path: Path) -> None:
    """``(3, H, W)`` on [-1, 1] -> an RGB PNG of exactly ``H x W`` pixels."""
    from PIL import Image

    Image.fromarray(to_uint8(image.cpu()).permute(1, 2, 0).numpy()).save(path)


def evaluate(model, images_u8, observed, args, lpips_model) -> tuple[dict[str, torch.Tensor], dict]:
    """Per-image metrics (and refined ones) over every batch, plus the first images for the figure.

    ``model`` is None for a classical ``args.method``: the fill then stands for the model's output.
    """
    per_image: dict[str, list[torch.Tensor]] = {}
    shown: dict[str, list[torch.Tensor]] = {}
    n = len(images_u8)
    bar = tqdm(range(0, n, args.batch_size), desc="batches", unit="batch", leave=False)
    for start in bar:
        x = to_model_range(images_u8[start : start + args.batch_size]).to(args.device)  # (B, 3, S, S)
        obs = observed[start : start + args.batch_size].to(args.device)  # (B, 1, S, S)
        context = torch.where(obs, x, torch.zeros_like(x))  # the model never sees a missing pixel
        outputs = {}
        if model is None:
            outputs[""] = (classical.fill(context, obs, args.method), None)
        else:
            with torch.inference_mode():
                out = model(context, obs, chunk=args.decode_chunk,
                            encoder_dtype=torch.bfloat16 if args.bf16_encoder else None)  # fmt: skip
            outputs[""] = (out.images, out.generated)
        if args.refine_steps > 0:
            r = refine(model, context, obs, args.refine_steps, args.refine_lr, args.refine_weights, latent=out.latent,
                       anchor=args.refine_anchor, holdout=args.refine_holdout,
                       generator=seeds.generator(args.seed, start))  # fmt: skip
            outputs["refined_"] = (r.images, r.generated)
        for prefix, (raw, gen) in outputs.items():
            filled = paste_observed(raw, x, obs)
            for name, value in M.inpainting_metrics(raw, filled, x, obs, lpips_model).items():
                per_image.setdefault(prefix + name, []).append(value.cpu())
            if start < NUM_SHOWN:
                k = NUM_SHOWN - start
                shown.setdefault(prefix + "inpainted", []).append(filled[:k].cpu())
                if args.render_size:
                    with torch.inference_mode():
                        hi = model.decode(gen.take(0, k), args.render_size, args.render_size, chunk=1)
                        hi = hi.clamp(-1, 1)
                    shown.setdefault(prefix + "rendered", []).append(hi.cpu())
        if start < NUM_SHOWN:
            shown.setdefault("truth", []).append(x[: NUM_SHOWN - start].cpu())
            shown.setdefault("context", []).append(torch.where(obs, x, 0.0)[: NUM_SHOWN - start].cpu())
            shown.setdefault("observed", []).append(obs[: NUM_SHOWN - start].cpu())
    return {k: torch.cat(v) for k, v in per_image.items()}, {k: torch.cat(v) for k, v in shown.items()}


def save_figure(shown: dict[str, torch.Tensor], path: Path, title: str) -> None:
    """One mosaic image (a row per image, a column per stage) drawn with a single matplotlib axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hole = torch.tensor([0.45, 0.55, 0.75])[:, None, None]
    context = torch.where(shown["observed"], M.to_unit(shown["context"]), hole)  # the missing pixels coloured
    columns = [("ground truth", M.to_unit(shown["truth"])), ("observed", context),
               ("inpainted", M.to_unit(shown["inpainted"]))]  # fmt: skip
    if "refined_inpainted" in shown:
        columns.append(("refined", M.to_unit(shown["refined_inpainted"])))
    for key, label in (("rendered", "rendered"), ("refined_rendered", "refined, rendered")):
        if key in shown:
            columns.append((f"{label} {shown[key].shape[-1]}px", M.to_unit(shown[key])))
    side, pad = max(images.shape[-1] for _, images in columns), 2
    tiles = []
    for _, images in columns:  # nearest upsampling so every column has the same side; grey -> RGB
        images = torch.nn.functional.interpolate(images, size=(side, side), mode="nearest").expand(-1, 3, -1, -1)
        tiles.append(torch.nn.functional.pad(images, (pad, pad, pad, pad), value=1.0))  # (B, 3, side+2p, side+2p)
    rows = torch.cat(tiles, dim=3)  # (B, 3, S, cols * S)
    mosaic = torch.cat(list(rows), dim=1).permute(1, 2, 0).numpy()  # (B * S, cols * S, 3)
    cell = side + 2 * pad
    scale = 1.3 / cell  # inches per pixel: a 32 px tile is 1.3 inches wide whatever --render_size is
    fig = plt.figure(figsize=(mosaic.shape[1] * scale, mosaic.shape[0] * scale + 0.5))
    ax = fig.add_axes((0, 0, 1, mosaic.shape[0] * scale / (mosaic.shape[0] * scale + 0.5)))
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    for j, (label, _) in enumerate(columns):
        fig.text((j + 0.5) / len(columns), 1 - 0.3 / (mosaic.shape[0] * scale + 0.5), label, ha="center", fontsize=8)
    fig.suptitle(title, fontsize=7, y=1 - 0.05 / (mosaic.shape[0] * scale + 0.5), va="top")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _mean(values: torch.Tensor) -> float | None:
    finite = values[~torch.isnan(values)]
    value = finite.double().mean().item() if len(finite) else math.nan
    return value if math.isfinite(value) else None  # JSON has no NaN / inf


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(args: argparse.Namespace | Sequence[str] | None = None) -> dict:
    """Run the evaluation; returns what ``metrics.json`` holds."""
    if not isinstance(args, argparse.Namespace):
        args = build_parser().parse_args(args)
    if min(args.batch_size, args.decode_chunk, args.limit or 1) < 1:
        raise EvalError(f"--batch_size, --decode_chunk and --limit must be positive, got {args.batch_size}, "
                        f"{args.decode_chunk} and {args.limit}")  # fmt: skip
    if args.render_size is not None and args.render_size < 1:
        raise EvalError(f"--render_size must be positive, got {args.render_size}")
    if args.mask is None:
        args.mask = "file" if args.mask_path else "center"
    if args.image_size is not None and args.image_size < 1:
        raise EvalError(f"--image_size must be positive, got {args.image_size}")
    if args.method != "model":
        for flag, value in (("--refine_steps", args.refine_steps), ("--render_size", args.render_size)):
            if value:
                raise EvalError(f"{flag} acts on the model's SIRENs; --method {args.method} is a classical fill "
                                "with none (use --method model)")  # fmt: skip
    t0, cpu0 = time.perf_counter(), time.process_time()
    if args.method == "model":
        model, model_name = load_model(args.model, args.device)
        if args.image is not None:
            return complete_image(model, model_name, args)
        size = args.image_size or model.config.image_size  # another size: read resampled, rendered at this one
    else:
        model, model_name = None, f"classical {args.method} fill"
        size = args.image_size or model_image_size(args.model)
    plan = settings(args, size)
    # Build the masks before the data, so a bad --mask / --num_context / --mask_path fails fast.
    make_observed(plan[0][1], 1, size, size, num_context=plan[0][2], center_frac=args.center_frac,
                  path=args.mask_path, generator=seeds.generator(args.seed))  # fmt: skip
    if args.data and Path(args.data).suffix.lower() in IMAGE_SUFFIXES and Path(args.data).is_file():
        raise EvalError(f"--data takes a data set (an .npz file, a folder or a Hub id), not one picture: to complete "
                        f"{args.data}, use --image {args.data}")  # fmt: skip
    images, data_name = load_images(args.data, args.split, size, args.limit)
    if len(images) == 0:
        raise EvalError(f"no images to evaluate in {data_name}")
    data_name = f"{data_name}, {len(images):,} images"
    print(f"data: {data_name} at {size}x{size}; {'model' if model else 'method'}: {model_name}")
    lpips_model = None if args.no_lpips else perceptual.load_lpips(args.lpips_weights)
    if lpips_model is not None:
        lpips_model.to(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    rows: list[dict] = []
    for index, (key, kind, num_context) in enumerate(plan):
        generator = seeds.generator(args.seed, index)  # (seed, setting)
        observed = make_observed(kind, len(images), size, size, num_context=num_context, center_frac=args.center_frac,
                                 path=args.mask_path, generator=generator)  # fmt: skip
        t = time.perf_counter()
        per_image, shown = evaluate(model, images, observed, args, lpips_model)
        seconds = time.perf_counter() - t
        results[key] = {name: _mean(v) for name, v in per_image.items() if not name.startswith("refined_")}
        if args.refine_steps > 0:
            results[key]["refined"] = {n[8:]: _mean(v) for n, v in per_image.items() if n.startswith("refined_")}
        results[key].update(mask=kind, num_context=num_context, mean_observed=observed.float().sum((1, 2, 3)).mean()
                            .item(), images=len(images), seconds=round(seconds, 2))  # fmt: skip
        if key in PAPER:
            results[key]["paper"] = PAPER[key]
        columns = {"num_observed": observed.sum((1, 2, 3)).tolist(), **{n: v.tolist() for n, v in per_image.items()}}
        for i in range(len(images)):
            rows.append({"setting": key, "index": i, **{n: f"{v[i]:.6g}" for n, v in columns.items()}})
        save_figure(shown, out / f"grid_{key}.png", f"{data_name} | {key} | {model_name}")
    results["meta"] = {"data": data_name, "method": args.method, "model": model_name if model else None,
                       "image_size": size, "seed": args.seed,
                       "lpips": "unavailable" if lpips_model is None else "alexnet v0.1, upsampled to 64",
                       "refine": {"steps": args.refine_steps, "lr": args.refine_lr, "weights": args.refine_weights,
                                  "anchor": args.refine_anchor, "holdout": args.refine_holdout},
                       "bf16_encoder": args.bf16_encoder, "seconds": round(time.perf_counter() - t0, 2),
                       "cpu_seconds": round(time.process_time() - cpu0, 2), "threads": torch.get_num_threads(),
                       "definitions": "mse: paper's (raw output clipped, all pixels, [0,1]; for a classical fill "
                       "the filled image); *_missing: missing pixels only; ssim, lpips: completed image (observed "
                       "pixels kept)"}  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    with open(out / "per_image.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print_table(results, plan, args)
    first = results[plan[0][0]]
    print(f"inpainted {data_name} with {model_name} ({', '.join(k for k, _, _ in plan)}): "
          f"MSE {_fmt(first['mse'])}, PSNR(missing) {_fmt(first['psnr_missing'], 2)} dB, "
          f"SSIM {_fmt(first['ssim'], 3)}, LPIPS {_fmt(first['lpips'], 3)} in {results['meta']['seconds']:.1f} s "
          f"-> {out / 'metrics.json'}")  # fmt: skip
    return results


def print_table(results: dict, plan, args: argparse.Namespace) -> None:
    header = ["setting", "MSE", "PSNR", "MSE miss", "PSNR miss", "SSIM", "LPIPS"]
    if args.refine_steps > 0:
        header += ["MSE ref", "PSNR miss ref"]
    if args.protocol == "paper":
        header += list(PAPER["10"])
    lines = [header]
    for key, _, _ in plan:
        r = results[key]
        line = [key, _fmt(r["mse"]), _fmt(r["psnr"], 2), _fmt(r["mse_missing"]), _fmt(r["psnr_missing"], 2),
                _fmt(r["ssim"], 3), _fmt(r["lpips"], 3)]  # fmt: skip
        if args.refine_steps > 0:
            line += [_fmt(r["refined"]["mse"]), _fmt(r["refined"]["psnr_missing"], 2)]
        if args.protocol == "paper":
            line += [_fmt(PAPER.get(key, {}).get(name), 3) for name in PAPER["10"]]
        lines.append(line)
    widths = [max(len(row[j]) for row in lines) for j in range(len(header))]
    for row in lines:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        main()
    except (EvalError, MaskError, DataError, CheckpointError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
