"""Fit one image, audio clip, video or Poisson problem with SIREN and same-size baselines (paper Sec. 4.1).

    python eval/fit.py image --size 256 --steps 100 --arch siren relu tanh relu_pe --out runs/fit-image
    python eval/fit.py audio --audio gt_bach.wav --seconds 1 --arch siren relu
    python eval/fit.py video --video bikes.mp4 --frames 10 --size 64x64
    python eval/fit.py poisson --size 128 --supervise gradient
    python eval/fit.py poisson --size 256 --supervise laplacian --bf16 --lr 1e-3 --lr_schedule cosine --steps 2000
    python eval/fit.py poisson --size 256 --supervise laplacian --laplacian_loss ritz --bf16 --lr_schedule cosine
    python eval/fit.py image --config configs/fit-image-paper.yaml   # the paper's scale (GPU)

The first word is the mode. Each run writes ``DIR/metrics.json`` (``{"<arch>": {"psnr": dB, "mse": ...,
"seconds_per_step": ...}}``, PSNR on the signal mapped to [0, 1] and MSE on the [-1, 1] values the models fit),
the reconstructions and a figure; the last printed line is a one-line summary. Precedence: the mode's
defaults < ``--config`` YAML < flags.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hypersiren.app import scripts
from hypersiren.app.figures import fit_figure
from hypersiren.app.reports import write_json
from hypersiren.fitting import Signal, align, load_signal, save_signal
from hypersiren.fitting.loop import DERIVATIVES, FitResult, fit
from hypersiren.metrics import mse, psnr
from hypersiren.siren import operators, points_to_image
from hypersiren.siren.baselines import ARCHS, make_model, nyquist_frequencies
from hypersiren.utils import ConfigError, config
from hypersiren.utils.schedules import LR_SCHEDULES

MODES = ("image", "audio", "video", "poisson")
LAPLACIAN_LOSSES = ("residual", "ritz")  # hypersiren.fitting.loop: supervise="laplacian" or "ritz"
USAGE = "eval/fit.py {image,audio,video,poisson} [--config FILE] [--key value ...]"


@dataclass
class FitConfig:
    """Every setting of a run; a field is also the YAML key and the ``--flag``."""

    # the signal
    mode: str = "image"  # image | audio | video | poisson (the first word of the command line)
    image: str | None = None  # image/poisson: PNG, JPEG or .npy; None: scikit-image's camera
    audio: str | None = None  # audio: a WAV file (required)
    video: str | None = None  # video: MP4 (any ffmpeg format) or a (T, H, W[, C]) .npy (required)
    size: str | None = None  # image/poisson: side S (centre crop, resize); video: HxW centre crop
    seconds: float | None = None  # audio: keep the first T seconds (None: all)
    frames: int | None = None  # video: keep the first F frames (None: all)
    supervise: str = "gradient"  # poisson: gradient | laplacian
    laplacian_loss: str = "residual"  # poisson laplacian: residual (the paper: MSE of the Laplacian) | ritz (energy)
    # the networks (the paper's 256 x 3; relu_pe: L = floor(log2(N / 4)) frequencies)
    arch: list[str] = field(default_factory=lambda: ["siren"])  # one or more of siren relu tanh relu_pe
    hidden_features: int = 256  # network width
    hidden_layers: int = 3  # hidden-to-hidden layers
    first_omega_0: float = 30.0  # SIREN first-layer omega_0
    hidden_omega_0: float = 30.0  # SIREN hidden omega_0
    # optimisation
    steps: int = 100  # Adam steps
    lr: float = 1e-3  # Adam learning rate
    lr_schedule: str = "constant"  # constant | cosine | exponential (to lr_final at the last step)
    lr_final: float | None = None  # learning rate of the last step when decaying (None: lr / 100)
    batch_size: int | None = None  # points per step (None: all points)
    seed: int = 0  # seeds initialisation and batches
    bf16: bool = False  # bf16 autocast for the matmuls (values, SIREN derivatives)
    derivatives: str = "fused"  # poisson: fused | forward | autograd (see hypersiren.fitting.loop)
    # run
    device: str = "cpu"  # torch device
    progress: bool = True  # progress bars (--no_progress hides them)
    out: str = "runs/fit"  # output folder

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        unknown = " ".join(a for a in self.arch if a not in ARCHS) or "(none)"
        square = self.mode in ("image", "poisson") and self.size is not None
        side_ok = not square or (str(self.size).isdigit() and int(self.size) >= 2)
        for ok, message in [
            (self.mode in MODES, f"unknown mode {self.mode!r}: choose from {', '.join(MODES)}"),
            (self.steps >= 1, f"--steps must be at least 1, got {self.steps}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (bool(self.arch) and not set(self.arch) - set(ARCHS), f"unknown --arch {unknown}: choose from {ARCHS}"),
            (self.supervise in ("gradient", "laplacian"), f"--supervise {self.supervise!r}: gradient or laplacian"),
            (self.laplacian_loss in LAPLACIAN_LOSSES, f"--laplacian_loss {self.laplacian_loss!r}: residual or ritz"),
            (
                self.laplacian_loss == "residual" or (self.mode, self.supervise) == ("poisson", "laplacian"),
                "--laplacian_loss ritz needs the poisson mode with --supervise laplacian",
            ),
            (self.derivatives in DERIVATIVES, f"--derivatives {self.derivatives!r}: one of {DERIVATIVES}"),
            (self.lr_schedule in LR_SCHEDULES, f"--lr_schedule {self.lr_schedule!r}: one of {LR_SCHEDULES}"),
            (self.lr_final is None or self.lr_final > 0, f"--lr_final must be positive, got {self.lr_final}"),
            (self.mode != "audio" or bool(self.audio), "audio mode needs --audio WAV"),
            (self.mode != "video" or bool(self.video), "video mode needs --video MP4|NPY"),
            (self.batch_size is None or self.batch_size >= 1, f"--batch_size must be positive, got {self.batch_size}"),
            (side_ok, f"--size must be an integer side of at least 2, got {self.size!r}"),
        ]:
            if not ok:
                raise ConfigError(message)


# Defaults per mode: small enough to finish in minutes on a CPU (configs/ hold the paper's scale).
MODE_DEFAULTS: dict[str, dict] = {
    "image": {"size": "256", "steps": 100, "arch": ["siren", "relu", "tanh", "relu_pe"], "out": "runs/fit-image"},
    "audio": {
        "seconds": 1.0,
        "steps": 300,
        "lr": 1e-4,
        "first_omega_0": 3000.0,
        "arch": ["siren", "relu"],
        "out": "runs/fit-audio",
    },
    "video": {
        "frames": 10,
        "size": "64x64",
        "steps": 300,
        "batch_size": 16384,
        "arch": ["siren", "relu"],
        "out": "runs/fit-video",
    },
    "poisson": {"size": "128", "steps": 300, "lr": 1e-4, "arch": ["siren"], "out": "runs/fit-poisson"},
}


def parse_args(argv: Sequence[str]) -> FitConfig:
    """The mode's defaults, then ``--config``, then the flags."""
    return config.parse_args(FitConfig, argv, positional="mode", presets=MODE_DEFAULTS)


def main(cfg: FitConfig) -> dict:
    """Fit the signal with every network; returns the metrics written to ``DIR/metrics.json``."""
    cfg.validate()
    kind = "image" if cfg.mode == "poisson" else cfg.mode
    path = {"image": cfg.image, "audio": cfg.audio, "video": cfg.video}[kind]
    signal = load_signal(kind, path, size=cfg.size, seconds=cfg.seconds, frames=cfg.frames)
    target = None  # a Poisson problem fits derivatives of the gray image: (label, (N, 1)) for the figure
    if cfg.mode == "poisson":
        signal = signal._replace(values=signal.values.mean(-1, keepdim=True))
        supervision = operators.poisson_target(points_to_image(signal.values[None], *signal.shape)[0], cfg.supervise)
        shown = supervision.norm(dim=-1, keepdim=True) if cfg.supervise == "gradient" else supervision
        target = ("|gradient|" if cfg.supervise == "gradient" else "laplacian", shown)
    else:
        supervision = signal.values
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(config.to_yaml(cfg))
    device = torch.device(cfg.device)
    coords, values = signal.coords.to(device), signal.values.to(device)
    metrics, results, derivatives = {}, {}, None
    supervise = "value" if target is None else cfg.supervise
    cell = None  # ritz draws one point per pixel cell each step: the grid's spacing
    if supervise == "laplacian" and cfg.laplacian_loss == "ritz":
        supervise, cell = "ritz", [operators.spacing(side) for side in signal.shape]
    for arch in cfg.arch:
        torch.manual_seed(cfg.seed)
        model = make_model(
            arch,
            coords.shape[1],
            cfg.hidden_features,
            cfg.hidden_layers,
            values.shape[1],
            first_omega_0=cfg.first_omega_0,
            hidden_omega_0=cfg.hidden_omega_0,
            num_frequencies=nyquist_frequencies(max(signal.shape)),
        ).to(device)
        res = fit(
            model,
            coords,
            supervision.to(device),
            steps=cfg.steps,
            lr=cfg.lr,
            lr_schedule=cfg.lr_schedule,
            lr_final=cfg.lr_final,
            supervise=supervise,
            reference=values,
            cell=cell,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            bf16=cfg.bf16,
            derivatives=cfg.derivatives,
            progress=cfg.progress,
            desc=arch,
        )
        pred = res.prediction.cpu() if target is None else align(res.prediction.cpu(), signal.values)
        results[arch] = pred
        metrics[arch] = _metrics(cfg, signal, pred, res, model)
        if arch == "siren" and cfg.mode == "image":
            derivatives = operators.gradient_norm_and_laplacian(model, coords)
        save_signal(signal, pred, out / arch)
    write_json(metrics, out / "metrics.json")
    titles = {a: f"{a}: {m['psnr']:.1f} dB" for a, m in metrics.items()}
    fit_figure(signal, results, titles, out / "figure.png", target, derivatives)
    print(summary(cfg, metrics))
    return metrics


def _metrics(cfg: FitConfig, signal: Signal, pred: torch.Tensor, res: FitResult, model: torch.nn.Module) -> dict:
    """PSNR (per frame for a video) and MSE of one fit, its speed and its history."""
    clipped, reference = pred.clamp(-1, 1)[None], signal.values[None]  # PSNR on [0, 1]: range 2, clipped
    m = {"psnr": psnr(clipped, reference, data_range=2.0).item(), "mse": mse(clipped, reference).item()}
    if signal.kind == "video":
        t = signal.shape[0]
        per_frame = psnr(clipped.reshape(t, -1), reference.reshape(t, -1), data_range=2.0).double()  # (T,)
        m.update(
            psnr=per_frame.mean().item(), psnr_std=per_frame.std(correction=0).item(), psnr_per_frame=per_frame.tolist()
        )
    elapsed = list(itertools.accumulate(res.step_seconds, initial=0.0))  # [k]: seconds of the first k updates
    history = {
        "step": res.history.steps,
        "loss": res.history.loss,
        "psnr": res.history.psnr,
        "seconds": [elapsed[k] for k in res.history.steps],
    }  # time spent in updates so far
    return {
        **m,
        "seconds_per_step": res.seconds_per_step,
        "steps": cfg.steps,
        "lr": cfg.lr,
        "parameters": sum(p.numel() for p in model.parameters()),
        "history": history,
    }


def summary(cfg: FitConfig, metrics: dict) -> str:
    """The last printed line."""
    what = {"image": cfg.image or "camera", "audio": cfg.audio, "video": cfg.video, "poisson": cfg.image or "camera"}
    label = cfg.mode if cfg.mode != "poisson" else f"poisson ({cfg.supervise})"
    if cfg.mode == "poisson" and cfg.supervise == "laplacian":
        label = f"poisson (laplacian, {cfg.laplacian_loss})"
    scores = ", ".join(f"{a} {m['psnr']:.2f} dB ({m['seconds_per_step']:.3f} s/step)" for a, m in metrics.items())
    return f"fit {label} {Path(str(what[cfg.mode])).name}, {cfg.steps} steps: {scores} -> {cfg.out}/metrics.json"


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse, run; a bad input prints one ``error: ...`` line and returns 2."""
    return scripts.run(main, FitConfig, __doc__, USAGE, argv=argv, positional="mode", presets=MODE_DEFAULTS)


if __name__ == "__main__":
    sys.exit(cli())
