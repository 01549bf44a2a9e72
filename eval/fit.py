"""Fit one image, audio clip, video or Poisson problem with SIREN and same-size baselines (paper Sec. 4.1).

    python eval/fit.py image --size 256 --steps 100 --arch siren relu tanh relu_pe --out runs/fit-image
    python eval/fit.py audio --audio gt_bach.wav --seconds 1 --arch siren relu
    python eval/fit.py video --video bikes.mp4 --frames 10 --size 64x64
    python eval/fit.py poisson --size 128 --supervise gradient
    python eval/fit.py poisson --size 256 --supervise laplacian --bf16 --lr 1e-3 --lr_schedule cosine --steps 2000
    python eval/fit.py image --config configs/fit-image-paper.yaml   # the paper's scale (GPU)

Each run writes ``DIR/metrics.json`` (``{"<arch>": {"psnr": dB, "mse": ..., "seconds_per_step": ...}}``,
PSNR on the signal mapped to [0, 1] and MSE on the [-1, 1] values the models fit), the reconstructions
and a figure; the last printed line is a one-line summary. Precedence: mode defaults < ``--config`` YAML
< explicit flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

from hypersiren import operators  # noqa: E402
from hypersiren.baselines import ARCHS, make_model, nyquist_frequencies  # noqa: E402
from hypersiren.config import ConfigError, from_dict, load_yaml, to_yaml  # noqa: E402
from hypersiren.coords import grid, image_to_points, points_to_image  # noqa: E402
from hypersiren.fitting import DERIVATIVES, LR_SCHEDULES, align, fit  # noqa: E402
from hypersiren.metrics import mse, psnr  # noqa: E402
from hypersiren.signals import SignalError, load_audio, load_image, load_video, save_audio, save_image  # noqa: E402

MODES = ("image", "audio", "video", "poisson")


@dataclass
class FitConfig:
    """Every setting of a run; a field is also the YAML key and the ``--flag``."""

    mode: str = "image"
    image: str | None = None  # image/poisson: a file; None = scikit-image's camera
    audio: str | None = None
    video: str | None = None
    size: str | None = None  # image/poisson: side S; video: HxW crop
    seconds: float | None = None  # audio: keep the first T seconds (None = all)
    frames: int | None = None  # video: keep the first F frames (None = all)
    supervise: str = "gradient"  # poisson: gradient | laplacian
    arch: list[str] = field(default_factory=lambda: ["siren"])
    steps: int = 100
    lr: float = 1e-3
    lr_schedule: str = "constant"  # constant | cosine | exponential (to lr_final at the last step)
    lr_final: float | None = None  # None = lr / 100
    seed: int = 0
    hidden_features: int = 256
    hidden_layers: int = 3
    first_omega_0: float = 30.0
    hidden_omega_0: float = 30.0
    batch_size: int | None = None  # points per step; None = all points
    bf16: bool = False
    derivatives: str = "fused"  # poisson: fused | forward | autograd (see hypersiren.fitting)
    device: str = "cpu"
    progress: bool = True
    out: str = "runs/fit"


# Defaults per mode: small enough to finish in minutes on a 2-core CPU (configs/ hold the paper's scale).
MODE_DEFAULTS: dict[str, dict] = {
    "image": {"size": "256", "steps": 100, "arch": ["siren", "relu", "tanh", "relu_pe"], "out": "runs/fit-image"},
    "audio": {"seconds": 1.0, "steps": 300, "lr": 1e-4, "first_omega_0": 3000.0, "arch": ["siren", "relu"]},
    "video": {"frames": 10, "size": "64x64", "steps": 300, "batch_size": 16384, "arch": ["siren", "relu"]},
    "poisson": {"size": "128", "steps": 300, "lr": 1e-4, "arch": ["siren"], "out": "runs/fit-poisson"},
}
MODE_DEFAULTS["audio"]["out"] = "runs/fit-audio"
MODE_DEFAULTS["video"]["out"] = "runs/fit-video"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True, metavar="{" + ",".join(MODES) + "}")
    helps = {
        "image": "fit an image (gray or RGB)",
        "audio": "fit the first seconds of a WAV file (first_omega_0 3000)",
        "video": "fit a crop of a video (MP4 or .npy), a random batch of voxels per step",
        "poisson": "reconstruct an image from its gradient or Laplacian only",
    }
    for mode in MODES:
        p = sub.add_parser(mode, help=helps[mode], description=helps[mode], argument_default=argparse.SUPPRESS)
        d = {**{f.name: f.default for f in dataclasses.fields(FitConfig) if f.default is not dataclasses.MISSING}}
        d.update(MODE_DEFAULTS[mode])
        if mode in ("image", "poisson"):
            p.add_argument("--image", help="image file (PNG, JPEG, .npy); default: scikit-image's camera")
            p.add_argument("--size", help=f"side S of the square (centre crop, resize); default {d['size']}")
        if mode == "audio":
            p.add_argument("--audio", help="WAV file (required)")
            p.add_argument("--seconds", type=float, help=f"keep the first T seconds; default {d['seconds']}")
        if mode == "video":
            p.add_argument("--video", help="MP4 (or any ffmpeg format) or (T, H, W[, C]) .npy (required)")
            p.add_argument("--frames", type=int, help=f"keep the first F frames; default {d['frames']}")
            p.add_argument("--size", help=f"HxW centre crop; default {d['size']}")
        if mode == "poisson":
            p.add_argument("--supervise", choices=("gradient", "laplacian"), help="default gradient")
            routes = "fused (default), forward mode, or autograd's double backward"
            p.add_argument("--derivatives", choices=DERIVATIVES, help=f"how SIREN derivatives are computed: {routes}")
        p.add_argument("--steps", type=int, help=f"optimiser steps; default {d['steps']}")
        p.add_argument("--lr", type=float, help=f"Adam learning rate; default {d['lr']:g}")
        p.add_argument("--lr_schedule", choices=LR_SCHEDULES, help="constant (default), or decay to --lr_final")
        p.add_argument("--lr_final", type=float, help="learning rate of the last step when decaying; default lr/100")
        p.add_argument("--arch", nargs="+", help=f"one or more of {', '.join(ARCHS)}; default {' '.join(d['arch'])}")
        p.add_argument("--seed", type=int, help="seed for initialisation and batches; default 0")
        p.add_argument("--hidden_features", type=int, help=f"network width; default {d['hidden_features']}")
        p.add_argument("--hidden_layers", type=int, help=f"hidden-to-hidden layers; default {d['hidden_layers']}")
        p.add_argument("--first_omega_0", type=float, help=f"SIREN first-layer omega_0; default {d['first_omega_0']:g}")
        p.add_argument("--hidden_omega_0", type=float, help="SIREN hidden omega_0; default 30")
        p.add_argument("--batch_size", type=int, help=f"points per step (default: {d['batch_size'] or 'all'})")
        p.add_argument("--bf16", action="store_true", help="bf16 autocast for the matmuls (values, SIREN derivatives)")
        p.add_argument("--device", help="torch device; default cpu")
        p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
        p.add_argument("--out", help=f"output folder; default {d['out']}")
        p.add_argument("--config", help="YAML file of settings (flags given here override it)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> FitConfig:
    """Mode defaults, then ``--config``, then explicit flags."""
    ns = vars(build_parser().parse_args(argv))
    mode, config_path = ns.pop("mode"), ns.pop("config", None)
    cfg = from_dict(FitConfig, {"mode": mode, **MODE_DEFAULTS[mode]})
    if config_path is not None:
        values = load_yaml(config_path)
        if values.get("mode", mode) != mode:
            raise ConfigError(f"config {config_path} is for mode {values['mode']!r}, not {mode!r}")
        cfg = from_dict(FitConfig, values, base=cfg)
    return from_dict(FitConfig, ns, base=cfg)


def validate(cfg: FitConfig) -> None:
    if cfg.mode not in MODES:
        raise ConfigError(f"unknown mode {cfg.mode!r}: choose from {', '.join(MODES)}")
    if cfg.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {cfg.steps}")
    if cfg.lr <= 0:
        raise ConfigError(f"--lr must be positive, got {cfg.lr}")
    unknown = [a for a in cfg.arch if a not in ARCHS]
    if unknown or not cfg.arch:
        raise ConfigError(f"unknown --arch {' '.join(unknown) or '(none)'}: choose from {', '.join(ARCHS)}")
    if cfg.mode == "poisson" and cfg.supervise not in ("gradient", "laplacian"):
        raise ConfigError(f"--supervise must be gradient or laplacian, got {cfg.supervise!r}")
    if cfg.derivatives not in DERIVATIVES:
        raise ConfigError(f"--derivatives must be one of {', '.join(DERIVATIVES)}, got {cfg.derivatives!r}")
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(f"--lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {cfg.lr_schedule!r}")
    if cfg.lr_final is not None and cfg.lr_final <= 0:
        raise ConfigError(f"--lr_final must be positive, got {cfg.lr_final}")
    if cfg.mode == "audio" and not cfg.audio:
        raise ConfigError("audio mode needs --audio WAV")
    if cfg.mode == "video" and not cfg.video:
        raise ConfigError("video mode needs --video MP4|NPY")
    if cfg.batch_size is not None and cfg.batch_size < 1:
        raise ConfigError(f"--batch_size must be positive, got {cfg.batch_size}")
    if cfg.mode in ("image", "poisson") and cfg.size is not None:
        if not str(cfg.size).isdigit() or int(cfg.size) < 2:
            raise ConfigError(f"--size must be an integer side of at least 2, got {cfg.size!r}")


def _int_size(cfg: FitConfig) -> int | None:
    return int(cfg.size) if cfg.size is not None else None


def load_signal(cfg: FitConfig) -> dict:
    """The signal as coordinates ``(N, D)``, values ``(N, C)`` and what is needed to save it."""
    if cfg.mode in ("image", "poisson"):
        img = load_image(cfg.image, _int_size(cfg))  # (C, H, W)
        _, h, w = img.shape
        return {"coords": grid(h, w), "values": image_to_points(img[None])[0], "shape": (h, w), "samples": max(h, w)}
    if cfg.mode == "audio":
        samples, rate, scale = load_audio(cfg.audio, cfg.seconds)  # (N, C)
        return {"coords": grid(len(samples)), "values": samples, "rate": rate, "scale": scale, "samples": len(samples)}
    vid = load_video(cfg.video, cfg.frames, cfg.size)  # (T, C, H, W)
    t, c, h, w = vid.shape
    values = vid.permute(0, 2, 3, 1).reshape(t * h * w, c)  # (T*H*W, C) in grid(T, H, W) order
    return {"coords": grid(t, h, w), "values": values, "shape": (t, h, w), "samples": max(t, h, w)}


def poisson_target(values: torch.Tensor, shape: tuple[int, int], supervise: str) -> torch.Tensor:
    """Finite-difference gradient ``(N, 2)`` or Laplacian ``(N, 1)`` of the gray image, coordinate units."""
    img = points_to_image(values.mean(-1, keepdim=True)[None], *shape)  # (1, 1, H, W)
    if supervise == "gradient":
        g = operators.image_gradient(img)[0, 0]  # (2, H, W)
        return g.reshape(2, -1).T
    return image_to_points(operators.image_laplacian(img))[0]


def siren_derivatives(model: torch.nn.Module, coords: torch.Tensor, chunk: int = 16384) -> tuple:
    """Gradient magnitude and Laplacian ``(N,)`` of the channel mean, by autograd, in chunks."""
    grads, laps = [], []
    for c in coords.split(chunk):
        c = c.detach().requires_grad_(True)
        y = model(c).mean(-1, keepdim=True)
        g = operators.gradient(y, c)
        laps.append(operators.divergence(g, c, create_graph=False).detach()[:, 0])
        grads.append(g.detach().norm(dim=-1))
    return torch.cat(grads), torch.cat(laps)


def _show(ax, points: torch.Tensor, shape: tuple[int, int], title: str, derivative: bool = False) -> None:
    img = points.reshape(*shape, -1).float().cpu().numpy()
    if derivative:  # signed maps diverge around 0; magnitudes are gray; both clipped at the 99th percentile
        lim = float(np.percentile(np.abs(img), 99)) or 1.0
        signed = bool((img < 0).any())
        cmap, vmin = ("RdBu_r", -lim) if signed else ("gray", 0.0)
        ax.imshow(img[..., 0], cmap=cmap, vmin=vmin, vmax=lim)
    elif img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=-1, vmax=1)
    else:
        ax.imshow(((img + 1) / 2).clip(0, 1))
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def figure(cfg: FitConfig, signal: dict, results: dict, metrics: dict, extra: dict, path: Path) -> None:
    """The run's figure: ground truth beside every architecture (and SIREN's derivatives)."""
    values, archs = signal["values"], list(results)
    if cfg.mode in ("image", "poisson"):
        panels = [("ground truth", values, False)]
        if cfg.mode == "poisson":
            target = extra["target"]
            tgt = target.norm(dim=-1, keepdim=True) if cfg.supervise == "gradient" else target
            panels.append((f"target: {'|gradient|' if cfg.supervise == 'gradient' else 'laplacian'}", tgt, True))
        panels += [(f"{a}: {metrics[a]['psnr']:.1f} dB", results[a], False) for a in archs]
        if "grad" in extra:
            panels.append(("siren |gradient|", extra["grad"][:, None], True))
            panels.append(("siren laplacian", extra["lap"][:, None], True))
        fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9), squeeze=False)
        for ax, (title, pts, signed) in zip(axes[0], panels, strict=True):
            _show(ax, pts, signal["shape"], title, signed)
    elif cfg.mode == "audio":
        fig, axes = plt.subplots(len(archs) + 1, 1, figsize=(9, 1.8 * (len(archs) + 1)), sharex=True, squeeze=False)
        t = np.arange(len(values)) / signal["rate"]
        rows = [("ground truth", values)] + [(f"{a}: {metrics[a]['psnr']:.1f} dB", results[a]) for a in archs]
        for ax, (title, pts) in zip(axes[:, 0], rows, strict=True):
            ax.plot(t, pts[:, 0].cpu().numpy(), lw=0.4)
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(title, fontsize=9)
        axes[-1, 0].set_xlabel("seconds")
    else:
        t, h, w = signal["shape"]
        shown = sorted({0, t // 3, 2 * t // 3, t - 1})
        rows = [("ground truth", values)] + [(f"{a}: {metrics[a]['psnr']:.1f} dB", results[a]) for a in archs]
        fig, axes = plt.subplots(len(rows), len(shown), figsize=(2.4 * len(shown), 2.4 * len(rows) * h / w + 0.4))
        axes = np.asarray(axes).reshape(len(rows), len(shown))
        for r, (title, pts) in enumerate(rows):
            frames = pts.reshape(t, h * w, -1)
            for k, f in enumerate(shown):
                _show(axes[r, k], frames[f], (h, w), f"{title}, frame {f}" if k == 0 else f"frame {f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args: FitConfig | Sequence[str] | None = None) -> dict:
    """Run one fitting experiment; returns the metrics written to ``DIR/metrics.json``."""
    cfg = args if isinstance(args, FitConfig) else parse_args(args)
    validate(cfg)
    out = Path(cfg.out)
    signal = load_signal(cfg)
    device = torch.device(cfg.device)
    coords, values = signal["coords"].to(device), signal["values"].to(device)
    target, supervise, extra = values, "value", {}
    if cfg.mode == "poisson":
        supervise = cfg.supervise
        values = values.mean(-1, keepdim=True)  # derivatives of the gray image
        signal["values"] = values.cpu()
        target = poisson_target(values.cpu(), signal["shape"], supervise).to(device)
        extra["target"] = target.cpu()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(to_yaml(cfg))

    metrics, results = {}, {}
    for arch in cfg.arch:
        torch.manual_seed(cfg.seed)
        model = make_model(
            arch, coords.shape[1], cfg.hidden_features, cfg.hidden_layers, values.shape[1],
            first_omega_0=cfg.first_omega_0, hidden_omega_0=cfg.hidden_omega_0,
            num_frequencies=nyquist_frequencies(signal["samples"]),
        ).to(device)  # fmt: skip
        res = fit(
            model, coords, target, steps=cfg.steps, lr=cfg.lr, lr_schedule=cfg.lr_schedule, lr_final=cfg.lr_final,
            supervise=supervise, reference=values, batch_size=cfg.batch_size, seed=cfg.seed, bf16=cfg.bf16,
            derivatives=cfg.derivatives, progress=cfg.progress, desc=arch,
        )  # fmt: skip
        pred = res.prediction.cpu()
        if supervise != "value":
            pred = align(pred, values.cpu())
        results[arch] = pred
        clipped, reference = pred.clamp(-1, 1)[None], values.cpu()[None]  # PSNR on [0, 1]: range 2, clipped
        m = {"psnr": psnr(clipped, reference, data_range=2.0).item(), "mse": mse(clipped, reference).item()}
        if cfg.mode == "video":
            t = signal["shape"][0]
            per_frame = psnr(clipped.reshape(t, -1), reference.reshape(t, -1), data_range=2.0).tolist()  # (T,)
            m.update(psnr=float(np.mean(per_frame)), psnr_std=float(np.std(per_frame)), psnr_per_frame=per_frame)
        elapsed = list(itertools.accumulate(res.step_seconds, initial=0.0))  # [k]: seconds of the first k updates
        m.update(
            seconds_per_step=res.seconds_per_step, steps=cfg.steps, lr=cfg.lr,
            parameters=sum(p.numel() for p in model.parameters()),
            history={"step": res.history.steps, "loss": res.history.loss, "psnr": res.history.psnr,
                     "seconds": [elapsed[k] for k in res.history.steps]},  # time spent in updates so far
        )  # fmt: skip
        metrics[arch] = m
        if arch == "siren" and cfg.mode == "image":
            extra["grad"], extra["lap"] = siren_derivatives(model, coords)
        _save_reconstruction(cfg, signal, arch, pred, out)

    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    figure(cfg, signal, results, metrics, extra, out / "figure.png")
    return metrics


def _save_reconstruction(cfg: FitConfig, signal: dict, arch: str, pred: torch.Tensor, out: Path) -> None:
    if cfg.mode in ("image", "poisson"):
        save_image(out / f"{arch}.png", points_to_image(pred[None], *signal["shape"])[0])
    elif cfg.mode == "audio":
        save_audio(out / f"{arch}.wav", pred, signal["rate"], signal["scale"])
    else:
        t, h, w = signal["shape"]
        frames = ((pred.clamp(-1, 1) + 1) * 127.5).round().byte().reshape(t, h, w, -1)  # (T, H, W, C)
        np.save(out / f"{arch}.npy", frames.numpy())


def summary(cfg: FitConfig, metrics: dict) -> str:
    what = {"image": cfg.image or "camera", "audio": cfg.audio, "video": cfg.video, "poisson": cfg.image or "camera"}
    label = cfg.mode if cfg.mode != "poisson" else f"poisson ({cfg.supervise})"
    scores = ", ".join(f"{a} {m['psnr']:.2f} dB ({m['seconds_per_step']:.3f} s/step)" for a, m in metrics.items())
    return f"fit {label} {Path(str(what[cfg.mode])).name}, {cfg.steps} steps: {scores} -> {cfg.out}/metrics.json"


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse, run, print the summary; a bad input prints one ``error: ...`` line and returns 2."""
    try:
        cfg = parse_args(argv)
        metrics = main(cfg)
    except (SignalError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary(cfg, metrics))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(cli())
