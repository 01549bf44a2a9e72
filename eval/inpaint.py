"""Complete faces with a trained HyperSiren, measure how well, and show it (SIREN Sec. 4.4, Table 2).

    python eval/inpaint.py --mask center                                  # shipped model, CelebA test split
    python eval/inpaint.py --data celeba32/test.npz --protocol paper --out runs/eval    # a local npz
    python eval/inpaint.py --mask random --num_context 100 --refine_steps 50 --limit 500
    python eval/inpaint.py --mask file --mask_path hole.png --render_size 128 --limit 16
    python eval/inpaint.py --method biharmonic --mask random --num_context 1000 --limit 1000   # a classical fill
    python eval/inpaint.py --data celeba32/test.npz --mask center --samples 10 --limit 1000     # the sampler
    python eval/inpaint.py --method nearest_faces --data celeba32/test.npz --samples 10         # the classical one
    python eval/inpaint.py --data celeba64/test.npz --hires_data celeba128/test.npz --mask full  # at 128 too
    python eval/inpaint.py --image photo.jpg --mask_path hole.png --render_size 256  # one picture of yours
    python eval/inpaint.py --image photo.jpg --mask_path hole.png --samples 4        # four draws of it

Writes ``OUT/metrics.json`` (means per setting, plus ``meta``), ``OUT/per_image.csv`` and one figure per
setting, ``OUT/grid_{setting}.png``, prints a table, and ends with a one-line summary. Metrics: the paper's
``mse`` (raw output clipped, every pixel, [0, 1]), ``*_missing`` over the hole, ``ssim`` / ``lpips`` of the
completed image (:func:`hypersiren.metrics.inpainting_metrics`). ``--protocol paper`` evaluates context 10, 100,
1000 (Bernoulli p = N / (H W) as the official test; ``--context_sampling exact``: the CNP protocol), half and
full beside the paper's numbers; ``--method`` a classical fill (:mod:`hypersiren.inpaint.classical`) or the
classical sampler (:mod:`hypersiren.inpaint.nearest_faces`) under the same masks; ``--samples K`` K draws per face
scored as samplers are (:mod:`hypersiren.inpaint.sample_evaluation`); ``--hires_data`` the SIRENs at a larger side
(an npz's own) against the same faces there, beside bicubic. ``--image``: one picture of any size, completed (or with
``--samples`` drawn) at its own size (:mod:`hypersiren.app.picture_run`). The work is the library's:
:mod:`hypersiren.inpaint.pipeline`, :mod:`hypersiren.app.sources`, :mod:`hypersiren.app.figures`,
:mod:`hypersiren.app.reports`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from hypersiren.app import picture_run, scripts
from hypersiren.app.figures import inpainting_grid, samples_grid
from hypersiren.app.reports import (
    csv_rows,
    fmt,
    hires_table,
    mean,
    samples_table,
    summarize,
    table,
    write_csv,
    write_json,
)
from hypersiren.app.sources import load_images, load_model, model_image_size
from hypersiren.data import IMAGE_SUFFIXES, source_side, to_model_range
from hypersiren.inpaint import classical
from hypersiren.inpaint.composite import BLENDS
from hypersiren.inpaint.nearest_faces import NearestFaces
from hypersiren.inpaint.pipeline import PAPER, RefineOptions, evaluate, settings
from hypersiren.inpaint.sample_evaluation import evaluate_samples
from hypersiren.masks import KINDS, make_observed
from hypersiren.metrics import perceptual
from hypersiren.metrics.frechet import frechet_alexnet
from hypersiren.utils import ConfigError, config, native_bf16, seeds

USAGE = "eval/inpaint.py [--config FILE] [--key value ...]"
NEAREST_FACES, NEAREST_POOL = "nearest_faces", 20
LPIPS = "alexnet v0.1, upsampled to 64"


@dataclass
class InpaintConfig:
    """Every setting of an evaluation; a field is also the YAML key and the ``--flag``."""

    # what completes, and what
    model: str | None = None  # a shipped prior's name, a checkpoint folder or a Hub id (None: the shipped one)
    # model | nearest_faces (the classical sampler: K of the 20 training faces nearest on the observed pixels) | mean |
    # nearest | linear | biharmonic (a classical fill); no model is loaded for the classical ones
    method: str = "model"
    nearest_data: str | None = None  # --method nearest_faces: the training faces (None: the train split of --data)
    data: str | None = None  # npz, folder or Hub id (None: CelebA on the Hub; offline the bundled demo images)
    split: str = "test"  # train | val | test
    image: str | None = None  # complete this one picture (any size) instead of a data set
    image_size: int | None = None  # evaluation side (None: the model's; another side is resampled)
    hires_data: str | None = None  # the same faces at a larger side (npz, folder): the SIRENs scored there too
    hires_size: int | None = None  # the side hires_data is read at (None: an npz's own side, else twice the eval's)
    limit: int | None = None  # evaluate only the first N images
    # masks
    mask: str | None = None  # a hypersiren.masks.kinds kind (None: center, or file with mask_path)
    num_context: int = 100  # context pixels for mask random / bernoulli
    center_frac: float = 0.5  # side of the center hole / image side
    mask_path: str | None = None  # mask image for mask file (white = missing; cropped like the pictures)
    protocol: str | None = None  # paper: context 10/100/1000, half, full; scaled: counts x H W / 32^2
    context_sampling: str = "bernoulli"  # the protocol's context: bernoulli (p = N / H W) | exact (N pixels)
    seed: int = 0  # seeds the masks
    # the model's completion
    batch_size: int = 256  # images per forward pass
    decode_chunk: int = 8  # render the SIRENs this many images at a time (same results)
    # the encoder under bf16 autocast (latent within 1%; None: where this machine has bf16 matmuls, AMX or
    # AVX512-BF16 or a GPU: elsewhere bf16 is emulated and several times slower)
    bf16_encoder: bool | None = None
    bf16_render: bool = False  # the SIRENs under bf16 autocast too (as trained; faster only for wide SIRENs)
    render_size: int | None = None  # also render the SIRENs at this side in the figure (--image: 8x)
    align: bool = True  # --image: frame a face as CelebA's are (OpenCV, the [align] extra); --no_align: not
    blend: str = "poisson"  # --image: how the completion meets the picture: poisson (gradient domain) | linear (a fade)
    blend_band: int = 3  # --image: the pixels around the hole (Euclidean distance) that the blend may change
    # also draw K completions per face and score them (a prior with a sampler, or nearest_faces; >= 2); with --image,
    # K completed pictures at their own size, their per-pixel standard deviation and a figure (seeded by --seed)
    samples: int = 0
    sampler_churn: float | None = None  # the draws' SDE noise strength (None: the model's own; 0: the flow's ODE)
    frechet_reference: str | None = None  # real faces for the Frechet distance (None: the next faces of --data)
    refine_steps: int = 0  # test-time Adam steps on the observed pixels
    refine_lr: float = 1e-2  # Adam learning rate of the refinement
    refine_weights: bool = False  # refine offsets on the generated weights too
    refine_anchor: float = 0.0  # weight of mean((z - z_encoder)^2) in the refinement objective
    refine_holdout: float = 0.0  # share of observed pixels held out of the refinement to pick its iterate
    # metrics and outputs
    lpips: bool = True  # LPIPS (AlexNet); --no_lpips: reported as unavailable
    lpips_weights: str | None = None  # AlexNet weights .npz/.pth (None: $HYPERSIREN_LPIPS_WEIGHTS, torchvision)
    out: str = "runs/inpaint"  # output folder
    device: str = "cpu"  # cpu, cuda, ...

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        methods = ("model", NEAREST_FACES, *classical.METHODS)
        picture = self.data is not None and Path(self.data).suffix.lower() in IMAGE_SUFFIXES
        for ok, message in [
            (self.method in methods, f"unknown --method {self.method!r}: one of {', '.join(methods)}"),
            (self.mask is None or self.mask in KINDS, f"unknown mask kind {self.mask!r}; valid kinds: {KINDS}"),
            (self.protocol in (None, "paper", "scaled"), f"--protocol is paper or scaled, not {self.protocol!r}"),
            (self.context_sampling in ("bernoulli", "exact"), "--context_sampling is bernoulli or exact"),
            (
                min(self.batch_size, self.decode_chunk, self.limit or 1, self.render_size or 1, self.image_size or 1)
                > 0,
                "--batch_size, --decode_chunk, --limit, --render_size and --image_size must be positive",
            ),
            (self.blend_band >= 0, f"--blend_band is a width in pixels, >= 0, not {self.blend_band}"),
            (self.blend in BLENDS, f"--blend is one of {', '.join(BLENDS)}, not {self.blend!r}"),
            (
                self.method == "model" or not self.refine_steps,
                f"--refine_steps acts on the model's SIRENs; --method "
                f"{self.method} is a classical fill with none (use --method model)",
            ),
            (
                self.method == "model" or not self.render_size,
                f"--render_size acts on the model's SIRENs; --method "
                f"{self.method} is a classical fill with none (use --method model)",
            ),
            (
                self.image is None or (self.data is None and self.protocol is None),
                "--image completes one picture: --data and --protocol do not apply to it",
            ),
            (self.image is None or self.method == "model", "--image completes a picture with --method model"),
            (self.method != NEAREST_FACES or not self.hires_data, "--hires_data scores SIRENs: use --method model"),
            (
                self.samples == 0 or (self.samples >= 2 and self.method in ("model", NEAREST_FACES)),
                "--samples K draws K >= 2 completions per face from the model's sampler (or --method nearest_faces)",
            ),
            (
                self.sampler_churn is None or (self.sampler_churn >= 0 and self.method == "model"),
                f"--sampler_churn is >= 0 and sets a model's sampler: got {self.sampler_churn}, --method {self.method}",
            ),
            (
                self.image is None or self.samples == 0 or self.refine_steps == 0,
                "--image --samples draws from the sampler: --refine_steps does not apply",
            ),
            (
                self.method != NEAREST_FACES or self.samples <= NEAREST_POOL,
                f"--method nearest_faces draws at most {NEAREST_POOL} completions per face, not {self.samples}",
            ),
            (
                self.hires_data is None or (self.method == "model" and self.image is None),
                "--hires_data scores the model's SIRENs on a data set at a larger side (--method model, no --image)",
            ),
            (
                not (picture and Path(self.data).is_file()),
                f"--data takes a data set (an .npz file, a folder or a Hub id), not one picture: use --image "
                f"{self.data}",
            ),
        ]:
            if not ok:
                raise ConfigError(message)

    @property
    def kind(self) -> str:
        """The mask kind: ``mask``, else ``file`` with a ``mask_path``, else ``center``."""
        return self.mask or ("file" if self.mask_path else "center")

    @property
    def refine_options(self) -> RefineOptions:
        return RefineOptions(
            self.refine_steps, self.refine_lr, self.refine_weights, self.refine_anchor, self.refine_holdout
        )


def parse_args(argv: Sequence[str]) -> InpaintConfig:
    return config.parse_args(InpaintConfig, argv)


def main(cfg: InpaintConfig) -> dict:
    """Run the evaluation; returns what ``metrics.json`` holds."""
    cfg.validate()
    t0, cpu0 = time.perf_counter(), time.process_time()
    model, name = (None, f"classical {cfg.method} fill") if cfg.method != "model" else load_model(cfg.model, cfg.device)
    if cfg.sampler_churn is not None:
        if model.sampler is None:
            raise ConfigError(f"--sampler_churn: {name} has no sampler (it completes with its mean only)")
        model.set_sampler_churn(cfg.sampler_churn)
        name = f"{name} (sampler_churn {cfg.sampler_churn:g})"
    if cfg.image is not None:
        return picture_run.run(cfg, model, name, LPIPS)
    size = cfg.image_size or (model.config.image_size if model else model_image_size(cfg.model))
    if cfg.method == NEAREST_FACES:
        faces, faces_name = load_images(nearest_source(cfg), "train", size)
        model, name = (
            NearestFaces(faces.to(cfg.device), NEAREST_POOL),
            f"the nearest of {len(faces):,} {faces_name} faces",
        )
    plan = settings(cfg.protocol, cfg.kind, cfg.num_context, cfg.context_sampling, size)

    def masks(index: int, n: int) -> torch.Tensor:  # (n, 1, S, S), seeded by (seed, setting)
        return make_observed(
            plan[index].kind,
            n,
            size,
            size,
            num_context=plan[index].num_context,
            center_frac=cfg.center_frac,
            path=cfg.mask_path,
            generator=seeds.generator(cfg.seed, index),
        )

    masks(0, 1)  # a bad mask fails before the data is read
    images, data_name = load_images(cfg.data, cfg.split, size, cfg.limit)
    if len(images) == 0:
        raise ConfigError(f"no images to evaluate in {data_name}")
    data_name = f"{data_name}, {len(images):,} images"
    print(f"data: {data_name} at {size}x{size}; {'model' if model else 'method'}: {name}")
    hires = None
    if cfg.hires_data is not None:
        side = cfg.hires_size or source_side(cfg.hires_data, cfg.split) or 2 * size
        hires, hires_name = load_images(cfg.hires_data, cfg.split, side, cfg.limit)
        if len(hires) != len(images):
            raise ConfigError(f"--hires_data {hires_name} has {len(hires)} images, --data {len(images)}: not the same")
        print(f"hires: {hires_name} at {hires.shape[-1]}x{hires.shape[-1]} (renderings there, bicubic beside)")
    lpips_model = perceptual.load_lpips(cfg.lpips_weights) if cfg.lpips else None
    if lpips_model is not None:
        lpips_model.to(cfg.device)
    reference = None
    if cfg.samples:
        if getattr(model, "sampler", True) is None:
            raise ConfigError(f"--samples: {name} has no sampler (it completes with its mean only)")
        reference = frechet_reference(cfg, size, len(images))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    results, rows = {}, []
    for index, (key, kind, num_context) in enumerate(plan):
        observed, t = masks(index, len(images)), time.perf_counter()
        per_image, shown = evaluate(
            images,
            observed,
            model,
            method=cfg.method,
            batch_size=cfg.batch_size,
            chunk=cfg.decode_chunk,
            encoder_dtype=torch.bfloat16 if bf16_encoder(cfg) else None,
            render_dtype=torch.bfloat16 if cfg.bf16_render else None,
            refine_options=cfg.refine_options,
            seed=cfg.seed,
            render_size=cfg.render_size,
            lpips_model=lpips_model,
            device=cfg.device,
            hires=hires,
        )
        counts = observed.sum((1, 2, 3))
        results[key] = {
            **summarize(per_image),
            "mask": kind,
            "num_context": num_context,
            "images": len(images),
            "mean_observed": counts.float().mean().item(),
            "seconds": round(time.perf_counter() - t, 2),
            **({"paper": PAPER[key]} if key in PAPER else {}),
        }
        rows += csv_rows(key, counts, per_image)
        inpainting_grid(shown, out / f"grid_{key}.png", f"{data_name} | {key} | {name}")
        if cfg.samples:
            title = f"{data_name} | {key} | {name}"
            results[key]["samples"] = score_samples(
                cfg, model, images, observed, reference, lpips_model, out / f"samples_{key}.png", title
            )
    results["meta"] = {
        "data": data_name,
        "method": cfg.method,
        "model": name if model else None,
        "image_size": size,
        "seed": cfg.seed,
        "lpips": LPIPS if lpips_model else "unavailable",
        "refine": cfg.refine_options._asdict(),
        "bf16_encoder": bf16_encoder(cfg),
        "bf16_render": cfg.bf16_render,
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - cpu0, 2),
        "threads": torch.get_num_threads(),
        "definitions": "mse: paper's (raw output clipped, all pixels, [0,1]; for a classical fill the "
        "filled image); *_missing: missing pixels only; ssim, lpips: completed image (observed pixels "
        "kept)",
    }
    write_json(results, out / "metrics.json")
    write_csv(rows, out / "per_image.csv")
    print(table(results, [s.key for s in plan], refined=cfg.refine_steps > 0, paper=cfg.protocol == "paper"))
    if cfg.samples:
        print(samples_table(results, [s.key for s in plan], cfg.samples))
    if hires is not None:
        print(hires_table(results, [s.key for s in plan], hires.shape[-1]))
    first = results[plan[0].key]
    print(
        f"inpainted {data_name} with {name} ({', '.join(s.key for s in plan)}): MSE {fmt(first['mse'])}, "
        f"PSNR(missing) {fmt(first['psnr_missing'], 2)} dB, SSIM {fmt(first['ssim'], 3)}, LPIPS "
        f"{fmt(first['lpips'], 3)} in {results['meta']['seconds']:.1f} s -> {out / 'metrics.json'}"
    )
    return results


def bf16_encoder(cfg: InpaintConfig) -> bool:
    """``--bf16_encoder``, or where unset whether this machine computes bf16 natively."""
    return cfg.bf16_encoder if cfg.bf16_encoder is not None else native_bf16(cfg.device)


def nearest_source(cfg: InpaintConfig) -> str | None:
    """Where ``--method nearest_faces`` finds its training faces: ``--nearest_data``, else the train split of
    ``--data`` (the folder of an ``.npz`` file given as ``--data``: never the evaluated file itself)."""
    if cfg.nearest_data is not None:
        return cfg.nearest_data
    if cfg.data is not None and Path(cfg.data).suffix == ".npz":
        folder = Path(cfg.data).parent
        if not any((folder / f"{name}.npz").is_file() for name in ("train", "train_hires")):
            raise ConfigError(f"--method nearest_faces: no train.npz beside {cfg.data}: give --nearest_data")
        return str(folder)
    return cfg.data


def frechet_reference(cfg: InpaintConfig, size: int, n: int) -> torch.Tensor:
    """Real faces for the Frechet distance: ``--frechet_reference``, else the ``n`` faces of ``--data`` after the
    evaluated ones (the same number, so the distance of two real sets is comparable)."""
    if cfg.frechet_reference is not None:
        return load_images(cfg.frechet_reference, cfg.split, size, n)[0]
    everything, data_name = load_images(cfg.data, cfg.split, size, 2 * n)
    if len(everything) < 2 * n:
        raise ConfigError(
            f"--samples needs {n} more real faces in {data_name} for the Frechet distance (it has "
            f"{len(everything)}): lower --limit or give --frechet_reference"
        )
    return everything[n:]


def score_samples(cfg: InpaintConfig, model, images, observed, reference, lpips_model, figure: Path, title: str):
    """``--samples``: the samples' metrics over the hole (:mod:`hypersiren.inpaint.sample_evaluation`) and the Frechet
    AlexNet
    distance of the first samples and of the mean completions to ``reference``; writes the figure."""
    scored = evaluate_samples(
        images,
        observed,
        model,
        cfg.samples,
        seed=cfg.seed,
        batch_size=min(cfg.batch_size, 64),
        lpips_model=lpips_model,
        device=cfg.device,
    )
    samples_grid(scored.shown, figure, f"{title} | {cfg.samples} samples")
    out = {k: mean(v) for k, v in scored.per_image.items() if k != "best_of_k"}
    out["best_of_k"] = [round(v, 3) for v in scored.per_image["best_of_k"].nanmean(0).tolist()]
    out["crps_over_mae"] = out["crps"] / out["mean_mae"]
    if lpips_model is not None:
        real = to_model_range(reference)
        out["frechet_samples"] = float(frechet_alexnet(scored.first, real, lpips_model))
        out["frechet_mean"] = float(frechet_alexnet(scored.mean, real, lpips_model))
    return out


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse, run; a bad input prints one ``error: ...`` line and returns 2."""
    return scripts.run(main, InpaintConfig, __doc__, USAGE, argv=argv)


if __name__ == "__main__":
    sys.exit(cli())
