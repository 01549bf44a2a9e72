"""``eval/inpaint.py --image``: one picture of yours completed (:func:`run`) or sampled (:func:`sample`), written as
PNGs beside ``metrics.json``, with a figure; the work is the library's (:mod:`hypersiren.inpaint.picture`,
:mod:`hypersiren.inpaint.picture_completion`), this module writes it out.

``cfg`` is the script's ``InpaintConfig``: ``image``, ``mask_path``, the mask fields (``kind``, ``num_context``,
``center_frac``, ``seed``), ``align``, ``render_size``, the refinement's fields, ``blend`` and ``blend_band``,
``samples``, ``lpips`` and ``lpips_weights``, ``out`` and ``device``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hypersiren.app.figures import inpainting_grid, picture_samples_figure, uncertainty_colours
from hypersiren.app.reports import fmt, mean, write_json
from hypersiren.fitting.signals import save_image
from hypersiren.inpaint import Picture, check_hole, load_picture
from hypersiren.inpaint.picture_completion import complete_picture, picture_psnr, sample_picture, scored_missing
from hypersiren.inpaint.pipeline import HOLE_COLOUR
from hypersiren.masks import make_observed
from hypersiren.metrics import inpainting_metrics, perceptual
from hypersiren.metrics.image import psnr
from hypersiren.prior.model import HyperSiren
from hypersiren.utils import ConfigError, seeds


def run(cfg, model: HyperSiren, name: str, lpips_name: str) -> dict:
    """``--image``: complete one picture, at its own size and on the model's grid, written as PNGs beside
    ``metrics.json``; returns what that holds."""
    t0, size, kind = time.perf_counter(), model.config.image_size, cfg.kind
    render_size = cfg.render_size or 8 * size
    picture = load_picture(cfg.image, size, cfg.mask_path if kind == "file" else None, align=cfg.align)
    observed = None  # the mask file's own hole
    if kind != "file":
        observed = make_observed(
            kind,
            1,
            size,
            size,
            num_context=cfg.num_context,
            center_frac=cfg.center_frac,
            generator=seeds.generator(cfg.seed),
        )
    for note in picture.notes:
        print(f"note: {note}")
    if picture.marked_outside > 0.001:
        print(f"warning: {picture.marked_outside:.0%} of the mask lies outside that square and is kept as it was")
    if kind != "full":
        check_hole(picture.observed if observed is None else observed)
    if cfg.samples:
        return sample(cfg, model, name, picture, observed)
    done = complete_picture(model, picture, observed, render_size, cfg.refine_options, cfg.blend_band, blend=cfg.blend)
    lpips_model = perceptual.load_lpips(cfg.lpips_weights) if cfg.lpips else None
    outputs = {"": (done.raw, done.completed, done.picture)}
    if done.refined is not None:
        outputs["refined_"] = (done.refined, done.refined, done.refined_picture)
    scored = ~scored_missing(done, picture)  # a face's square beyond the picture's edge: those pixels not scored
    result = {}
    for prefix, (raw, filled, full) in outputs.items():
        values = inpainting_metrics(raw, filled, done.image, scored, lpips_model)
        result.update({prefix + k: mean(v) for k, v in values.items()})
        if done.hole.any():  # the hole at the picture's own size, against the picture itself
            result[prefix + "picture_psnr_missing"] = picture_psnr(full, picture, done.hole)
    out, stem = Path(cfg.out), Path(cfg.image).stem
    out.mkdir(parents=True, exist_ok=True)
    (width, height), frame = picture.source_size, picture.frame
    pictures = {"completed": done.picture, **({"refined": done.refined_picture} if done.refined is not None else {})}
    for suffix, image in pictures.items():
        Image.fromarray(image).save(out / f"{stem}_{suffix}.png")
    files = {
        f"observed{size}": done.shown,
        f"completed{size}": done.completed,
        f"rendered{render_size}": done.rendered,
        **(
            {f"refined{size}": done.refined, f"refined_rendered{render_size}": done.refined_rendered}
            if done.refined is not None
            else {}
        ),
    }
    for suffix, image in files.items():
        save_image(out / f"{stem}_{suffix}.png", image[0])
    shown = {
        "truth": done.image,
        "context": torch.where(done.observed, done.image, 0.0),
        "observed": done.observed,
        "inpainted": done.completed,
        "rendered": done.rendered,
        **(
            {"refined_inpainted": done.refined, "refined_rendered": done.refined_rendered}
            if done.refined is not None
            else {}
        ),
    }
    inpainting_grid(
        {k: v.cpu() for k, v in shown.items()}, out / f"grid_{stem}.png", f"{Path(cfg.image).name} | {kind} | {name}"
    )
    written = [f"{stem}_{suffix}.png" for suffix in [*pictures, *files]]
    result.update(
        mask=kind,
        num_missing=int((~scored).sum()),
        picture_missing=int(done.hole.sum()),
        source_size=[width, height],
        crop_box=list(picture.box),
        frame={
            "kind": frame.kind,
            "centre": [round(v, 2) for v in frame.centre],
            "side": round(frame.side, 2),
            "angle_degrees": round(math.degrees(frame.angle), 2),
        },
        mask_outside_crop=round(picture.marked_outside, 4),
        render_size=render_size,
        blend=cfg.blend,
        blend_band=cfg.blend_band,
        notes=list(picture.notes),
        files=written,
    )
    results = {
        "image": result,
        "meta": {
            "image": str(cfg.image),
            "model": name,
            "image_size": size,
            "seed": cfg.seed,
            "refine": {"steps": cfg.refine_steps, "lr": cfg.refine_lr},
            "lpips": lpips_name if lpips_model else "unavailable",
            "seconds": round(time.perf_counter() - t0, 2),
            "definitions": "the picture is its own "
            "ground truth; mse: all pixels of the model's square, *_missing: its hole only, [0,1]; "
            "picture_psnr_missing: the hole at the picture's own size",
        },
    }
    write_json(results, out / "metrics.json")
    print(
        f"completed {Path(cfg.image).name} ({width}x{height}, {result['picture_missing']} missing pixels; the "
        f"model's {size}x{size} square: {result['num_missing']}, {kind}): PSNR over the hole "
        f"{fmt(result.get('picture_psnr_missing'), 2)} dB -> {out / written[0]} ({width}x{height}); "
        f"{', '.join(written[1:4])}"
    )
    return results


def sample(cfg, model: HyperSiren, name: str, picture: Picture, observed: torch.Tensor | None) -> dict:
    """``--image --samples K``: K completions of one picture at its own size (each a draw of the sampler, seeded by
    ``--seed`` as on the page), their per-pixel standard deviation and a figure, beside the mean completion."""
    if model.sampler is None:
        raise ConfigError(f"--samples: {name} has no sampler (it completes with its mean only)")
    t0 = time.perf_counter()
    gen = torch.Generator(cfg.device).manual_seed(cfg.seed)
    drawn = sample_picture(model, picture, observed, cfg.samples, gen, band=cfg.blend_band, blend=cfg.blend)
    mean = complete_picture(model, picture, observed, band=cfg.blend_band, blend=cfg.blend)
    stack = np.stack(drawn.pictures).astype(np.float64) / 255  # (K, H, W, 3)
    std = stack.std(0).mean(-1)  # (H, W): the draws' standard deviation, averaged over the channels
    hole = mean.hole
    out, stem = Path(cfg.out), Path(cfg.image).stem
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, image in enumerate(drawn.pictures):
        written.append(f"{stem}_sample{i + 1}_seed{cfg.seed}.png")
        Image.fromarray(image).save(out / written[-1])
    written.append(f"{stem}_uncertainty_seed{cfg.seed}.png")
    colours = (uncertainty_colours(torch.from_numpy(std)) * 255).round().to(torch.uint8).numpy()
    Image.fromarray(colours).save(out / written[-1])
    shown = np.where(hole[..., None], np.array(HOLE_COLOUR, dtype=np.uint8), picture.pixels)
    panels = {"observed": shown, "mean": mean.picture, **{f"sample {i + 1}": p for i, p in enumerate(drawn.pictures)}}
    picture_samples_figure(
        panels,
        std,
        out / f"samples_{stem}.png",
        f"{Path(cfg.image).name} | {cfg.kind} | {name} | {cfg.samples} samples, seed {cfg.seed}",
    )
    truth = torch.from_numpy(picture.pixels.astype(np.float64) / 255).permute(2, 0, 1)[None]  # (1, 3, H, W)
    region = torch.from_numpy(hole)[None, None]
    each = [float(psnr(torch.from_numpy(s).permute(2, 0, 1)[None], truth, region)) for s in stack]
    result = {
        "samples": cfg.samples,
        "seed": cfg.seed,
        "picture_missing": int(hole.sum()),
        "sample_psnr_missing": each,
        "std_missing": float(std[hole].mean()) if hole.any() else math.nan,
        "source_size": list(picture.source_size),
        "blend": cfg.blend,
        "blend_band": cfg.blend_band,
        "files": written,
    }
    results = {
        "image": result,
        "meta": {
            "image": str(cfg.image),
            "model": name,
            "seed": cfg.seed,
            "seconds": round(time.perf_counter() - t0, 2),
            "definitions": "each sample is the picture with its "
            "hole completed by one draw of the sampler; std: the draws' per-pixel standard deviation on [0, 1]",
        },
    }
    write_json(results, out / "metrics.json")
    width, height = picture.source_size
    print(
        f"drew {cfg.samples} completions of {Path(cfg.image).name} ({width}x{height}, {result['picture_missing']} "
        f"missing pixels) with seed {cfg.seed}: their standard deviation over the hole {result['std_missing']:.3f} "
        f"-> {out / written[0]} ... ({width}x{height} each), {written[-1]}, samples_{stem}.png"
    )
    return results
