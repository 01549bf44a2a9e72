"""Training throughput of the paper's CelebA prior: hypersiren vs a reference written like the official code.

Measures images/s of one full training step (forward, backward, gradient-norm clip 1.0, Adam step) of
``HyperSirenConfig.paper()`` (the official CNN encoder, one hypernetwork MLP per SIREN tensor, a 256 x 3
RGB SIREN; 66.1 M parameters) with the paper's loss (``prior_loss``: MSE + 0.1 mean(latent^2)
+ 100 mean(params^2)) and context (``sample_observed`` defaults: k ~ U[10, 200), Bernoulli), on random
32x32 images in [-1, 1], at batch 100 (SIREN supplement Sec. 9).

The reference, in this file, follows the structure of the official code (vsitzmann/siren 4df34ba,
``meta_modules.py`` / ``modules.py``): ``ConvImgEncoder``, a ``HyperNetwork`` of ``FCBlock`` ReLU MLPs
(256 -> 256 -> 256 -> numel, Kaiming-normal / 100 last layer) and the per-sample SIREN evaluated with
``torch.bmm`` then ``torch.sin(30 * x)``; fp32, NCHW, no autocast, same loss and optimiser. Both sides
start from the same weights: the reference is built with the official init, then loaded with the
weights of a hypersiren model built from ``--seed``, so the loss check compares the same function.

Before both, on a CPU, a third subprocess times one of the 256 -> 256 5x5 convolutions that dominate the step
in fp32 and in bf16: the hardware's own bf16 gain on that op, which bounds the step ratio (AMX-BF16
processors gain far more than AVX512-BF16 ones).

Each side runs in its own subprocess (same environment, same threads), so its peak RSS
(``getrusage``, including the Python and torch import) is its own. Each subprocess times
``--steps`` steps after one warm-up (median wall and process-CPU seconds/step: on a shared CPU the
wall time depends on the scheduler, the CPU time much less), then trains a freshly seeded model on one
fixed batch of ``--loss_batch_size`` images for ``--loss_steps`` steps and reports the loss after them:
equal losses (up to bf16 rounding) show that both sides train the same model.

    nice -n 19 .venv/bin/python bench/train_step.py                       # batch 100, hypersiren bf16
    nice -n 19 .venv/bin/python bench/train_step.py --precision all       # + hypersiren fp32
    .venv/bin/python bench/train_step.py --batch_size 8 --steps 1         # a quick smoke run

The last line printed is the images/s ratio of the fastest hypersiren variant to the reference.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from interleave import cpu_name  # bench/, the script's folder
from torch import nn

from hypersiren.app.scripts import GLIBC_TUNABLES
from hypersiren.masks import sample_observed
from hypersiren.prior import HyperSiren, HyperSirenConfig
from hypersiren.training.losses import prior_loss
from hypersiren.utils import generator

# The paper's optimisation (supplement Sec. 9) and data.
LR = 5e-5
GRAD_CLIP = 1.0
LATENT_REG = 0.1
PARAM_REG = 100.0
IMAGE_SIZE = 32
CHANNELS = 3


# --- the reference: the official code's structure ------------------------------------------------------------


class Conv2dResBlock(nn.Module):
    """Official ``Conv2dResBlock``: relu(x + relu(conv5x5(relu(conv5x5(x)))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(channels, channels, 5, 1, 2), nn.ReLU(), nn.Conv2d(channels, channels, 5, 1, 2), nn.ReLU()
        )
        self.final_relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_relu(self.convs(x) + x)


class ConvImgEncoder(nn.Module):
    """Official ``ConvImgEncoder``: the observed image (zeros elsewhere) -> ``(B, 256)``."""

    def __init__(self, channel: int = 3, image_resolution: int = 32) -> None:
        super().__init__()
        self.conv_theta = nn.Conv2d(channel, 128, 3, 1, 1)
        self.relu = nn.ReLU()
        self.cnn = nn.Sequential(
            nn.Conv2d(128, 256, 3, 1, 1),
            nn.ReLU(),
            *[Conv2dResBlock(256) for _ in range(4)],
            nn.Conv2d(256, 256, 1, 1, 0),
        )
        self.relu_2 = nn.ReLU()
        self.fc = nn.Linear(image_resolution**2, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        o = self.cnn(self.relu(self.conv_theta(img)))  # (B, 256, H, W)
        return self.fc(self.relu_2(o).view(o.shape[0], 256, -1)).squeeze(-1)  # (B, 256, H*W) -> (B, 256)


def fc_block(in_features: int, out_features: int, hidden_features: int = 256, hidden_layers: int = 1) -> nn.Sequential:
    """Official ``FCBlock`` (ReLU, outermost linear) with ``init_weights_normal``."""
    layers: list[nn.Module] = [nn.Linear(in_features, hidden_features), nn.ReLU()]
    for _ in range(hidden_layers):
        layers += [nn.Linear(hidden_features, hidden_features), nn.ReLU()]
    layers.append(nn.Linear(hidden_features, out_features))
    for m in layers:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, a=0.0, nonlinearity="relu", mode="fan_in")
    return nn.Sequential(*layers)


class HyperNetwork(nn.Module):
    """Official ``HyperNetwork``: one ``FCBlock`` per SIREN parameter tensor, ``hyper_weight_init`` last layer."""

    def __init__(self, latent_dim: int, shapes: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.names = list(shapes)
        self.shapes = shapes
        self.nets = nn.ModuleList()
        for shape in shapes.values():
            net = fc_block(latent_dim, math.prod(shape))
            last = net[-1]
            with torch.no_grad():
                last.weight.div_(1e2)
                last.bias.uniform_(-1.0 / last.in_features, 1.0 / last.in_features)
            self.nets.append(net)

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            name: net(z).reshape(-1, *self.shapes[name])
            for name, net in zip(self.names, self.nets, strict=True)  # (B, *shape)
        }


def siren_shapes(in_features: int = 2, hidden: int = 256, hidden_layers: int = 3, out: int = 3) -> dict:
    """``nn.Linear``-style (out, in) shapes of the SIREN's tensors, in the official parameter order."""
    widths = [in_features] + [hidden] * (hidden_layers + 1) + [out]
    shapes = {}
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        shapes[f"net.{i}.weight"], shapes[f"net.{i}.bias"] = (n_out, n_in), (n_out,)
    return shapes


def batched_siren(coords: torch.Tensor, params: dict[str, torch.Tensor], num_layers: int) -> torch.Tensor:
    """Official ``BatchLinear`` + ``Sine``: ``(B, N, in)`` -> ``(B, N, out)``, sin(30 x) on all but the last."""
    h = coords
    for i in range(num_layers):
        w, b = params[f"net.{i}.weight"], params[f"net.{i}.bias"]  # (B, out, in), (B, out)
        h = torch.bmm(h, w.transpose(1, 2)) + b.unsqueeze(1)  # (B, N, out)
        if i < num_layers - 1:
            h = torch.sin(30 * h)
    return h


class ReferencePrior(nn.Module):
    """Official ``ConvolutionalNeuralProcessImplicit2DHypernet``: encoder -> hypernetwork -> per-sample SIREN."""

    def __init__(self, image_size: int = IMAGE_SIZE, channels: int = CHANNELS, latent_dim: int = 256) -> None:
        super().__init__()
        self.encoder = ConvImgEncoder(channels, image_size)
        self.shapes = siren_shapes(out=channels)
        self.hyper_net = HyperNetwork(latent_dim, self.shapes)
        axis = torch.linspace(-1.0, 1.0, image_size)
        self.register_buffer("coords", torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2))

    def forward(self, img_sub: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(B, C, H, W)`` observed image -> points ``(B, H*W, C)``, latent ``(B, 256)``, generated params."""
        latent = self.encoder(img_sub)
        params = self.hyper_net(latent)
        coords = self.coords.unsqueeze(0).expand(img_sub.shape[0], -1, -1)  # (B, N, 2)
        return batched_siren(coords, params, len(self.shapes) // 2), latent, params


def reference_loss(out: tuple, images: torch.Tensor) -> torch.Tensor:
    """Official ``image_hypernetwork_loss``: img MSE + 0.1 latent_loss + 100 hypo_weight_loss."""
    points, latent, params = out
    gt = images.flatten(2).transpose(1, 2)  # (B, H*W, C)
    weight_sum = sum(torch.sum(p**2) for p in params.values())
    total_weights = sum(p.numel() for p in params.values())
    return (
        ((points - gt) ** 2).mean()
        + LATENT_REG * torch.mean(latent**2)
        + PARAM_REG * weight_sum * (1.0 / total_weights)
    )


# --- one side, in its own process ----------------------------------------------------------------------------


def _hypersiren(seed: int) -> HyperSiren:
    torch.manual_seed(seed)
    return HyperSiren(HyperSirenConfig.paper())


def _build(side: str, seed: int, channels_last: bool, device: torch.device) -> nn.Module:
    """The model of ``side``, initialised from ``seed`` (the reference gets the same weights)."""
    model = _hypersiren(seed)
    if side == "reference":
        torch.manual_seed(seed)
        ref = ReferencePrior()
        src = [p for p in model.parameters() if p.requires_grad]  # encoder, then hypernet in SIREN order
        dst = list(ref.parameters())
        if [p.shape for p in src] != [p.shape for p in dst]:
            raise RuntimeError("reference and hypersiren parameters do not line up")
        with torch.no_grad():
            for s, d in zip(src, dst, strict=True):
                d.copy_(s)
        model = ref
    model = model.to(device).train()
    if side == "hypersiren" and channels_last:
        model.encoder.to(memory_format=torch.channels_last)
    return model


def _batch(batch_size: int, seed: int, key: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images in [-1, 1] ``(B, C, H, W)`` and the paper's context ``(B, 1, H, W)``, from (seed, key)."""
    g = generator(seed, key)
    images = torch.rand(batch_size, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1
    observed = sample_observed(batch_size, IMAGE_SIZE, IMAGE_SIZE, g)
    return images.to(device), observed.to(device)


def _loss(
    side: str, model: nn.Module, images: torch.Tensor, observed: torch.Tensor, precision: str, channels_last: bool
) -> torch.Tensor:
    """The training loss of ``side`` on one batch: its forward pass (autocast for hypersiren bf16) and loss."""
    if side == "reference":
        return reference_loss(model(images * observed), images)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x, obs = images.contiguous(memory_format=fmt), observed.contiguous(memory_format=fmt)
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = model(x, obs)
    return prior_loss(out, images, latent_reg=LATENT_REG, param_reg=PARAM_REG).total


def _step_fn(side: str, model: nn.Module, precision: str, channels_last: bool):
    """A closure running one training step on ``(images, observed)`` and returning the loss before it."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=LR)

    def step(images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        loss = _loss(side, model, images, observed, precision, channels_last)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_side(args: argparse.Namespace) -> dict:
    """Time one side (``args.child`` = reference | hypersiren) and run its loss check."""
    side, precision, device = args.child, args.precision, torch.device(args.device)
    torch.set_num_threads(args.threads)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32  # fp32 means fp32: cuDNN convs default to TF32 otherwise
    torch.backends.cudnn.allow_tf32 = tf32
    channels_last = side == "hypersiren" and args.channels_last

    model = _build(side, args.seed, channels_last, device)
    step = _step_fn(side, model, precision, channels_last)
    batches = [_batch(args.batch_size, args.seed, k, device) for k in range(1 + args.steps)]
    times, cpu_times = [], []
    for k, (images, observed) in enumerate(batches):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        step(images, observed)
        _sync(device)
        if k > 0:  # the first step is the warm-up (allocations, Adam state, oneDNN kernel selection)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    if device.type == "cuda":
        peak_gb = torch.cuda.max_memory_allocated(device) / 2**30
    del model, step, batches

    # Loss check: a fresh model from the same seed, one fixed batch, --loss_steps steps, then the loss.
    model = _build(side, args.seed, channels_last, device)
    step = _step_fn(side, model, precision, channels_last)
    images, observed = _batch(args.loss_batch_size, args.seed, -1, device)
    losses = [step(images, observed).item() for _ in range(args.loss_steps)]
    with torch.no_grad():
        losses.append(_loss(side, model, images, observed, precision, channels_last).item())  # after the last update

    seconds = statistics.median(times)
    return {
        "side": side,
        "precision": precision,
        "channels_last": channels_last,
        "seconds": seconds,
        "cpu_seconds": statistics.median(cpu_times),
        "times": times,
        "images_per_s": args.batch_size / seconds,
        "peak_gb": peak_gb,
        "losses": losses,
    }


def run_conv(args: argparse.Namespace) -> dict:
    """The hardware's bf16 gain on the step's dominant op: one 256 -> 256 5x5 convolution of the paper's
    residual blocks at ``batch_size`` x 32 x 32, forward and backward (input and weight gradients),
    fp32 NCHW (as the reference) vs bf16 autocast channels_last (as hypersiren); best of 3 after a warm-up."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    conv = nn.Conv2d(256, 256, 5, padding=2).to(device)
    x = torch.randn(args.batch_size, 256, IMAGE_SIZE, IMAGE_SIZE, device=device)
    seconds = {}
    for name, fmt, bf16 in (("fp32", torch.contiguous_format, False), ("bf16", torch.channels_last, True)):
        c, xx = conv.to(memory_format=fmt), x.contiguous(memory_format=fmt).requires_grad_(True)
        times = []
        for _ in range(4):
            _sync(device)
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                y = c(xx)
            y.float().sum().backward()
            _sync(device)
            times.append(time.perf_counter() - t0)
            c.zero_grad(set_to_none=True)
            xx.grad = None
        seconds[name] = min(times[1:])
    return {"side": "conv", "fp32": seconds["fp32"], "bf16": seconds["bf16"]}


# --- the driver ----------------------------------------------------------------------------------------------


def _child(args: argparse.Namespace, side: str, precision: str) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        side,
        "--precision",
        precision,
        "--device",
        args.device,
        "--batch_size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--seed",
        str(args.seed),
        "--threads",
        str(args.threads),
        "--loss_steps",
        str(args.loss_steps),
        "--loss_batch_size",
        str(args.loss_batch_size),
    ]
    if not args.channels_last:
        cmd.append("--no_channels_last")
    env = dict(os.environ)
    if args.glibc_tunables and sys.platform == "linux":
        env["GLIBC_TUNABLES"] = GLIBC_TUNABLES
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{side} {precision} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(args: argparse.Namespace) -> dict:
    """Run the reference and each hypersiren precision in subprocesses; print the table and the ratio."""
    cuda = args.device.startswith("cuda")
    if args.precision == "all":
        variants = ["fp32", "bf16", "tf32"] if cuda else ["fp32", "bf16"]
    else:
        variants = [args.precision] + (["tf32"] if cuda and args.precision == "bf16" else [])
    if "tf32" in variants and not cuda:
        raise SystemExit("error: --precision tf32 needs a CUDA device")
    print(
        f"paper model (66.1 M params), batch {args.batch_size}, {args.steps} timed steps after 1 warm-up, "
        f"device {args.device}, {args.threads} threads, torch {torch.__version__}, "
        f"GLIBC_TUNABLES {'on' if args.glibc_tunables else 'off'}",
        flush=True,
    )
    if not cuda:
        conv = _child(args, "conv", "fp32")
        print(
            f"  {cpu_name()}: a 256->256 5x5 conv, fwd+bwd at batch {args.batch_size}: fp32 {conv['fp32']:.3f} s, "
            f"bf16 channels_last {conv['bf16']:.3f} s = {conv['fp32'] / conv['bf16']:.2f}x; the reference's step "
            "is mostly such convolutions, so this bounds the step ratio",
            flush=True,
        )
    rows = [_child(args, "reference", "fp32")]
    print(f"  reference fp32: {rows[0]['seconds']:.2f} s/step", flush=True)
    for precision in variants:
        rows.append(_child(args, "hypersiren", precision))
        print(f"  hypersiren {precision}: {rows[-1]['seconds']:.2f} s/step", flush=True)

    mem = "peak GPU mem (GB)" if cuda else "peak RSS (GB)"
    ref = rows[0]
    print(
        f"\n{'implementation':<34} {'s/step':>8} {'CPU s/step':>10} {'images/s':>9} {mem:>17} "
        f"{'loss at 0 / after ' + str(args.loss_steps) + ' steps':>30} {'rel. diff':>9}"
    )
    for r in rows:
        name = f"{r['side']} {r['precision']}" + (" channels_last" if r["channels_last"] else "")
        rel = abs(r["losses"][-1] - ref["losses"][-1]) / abs(ref["losses"][-1])
        losses = f"{r['losses'][0]:.6f} / {r['losses'][-1]:.6f}"
        print(
            f"{name:<34} {r['seconds']:>8.3f} {r['cpu_seconds']:>10.2f} {r['images_per_s']:>9.2f} "
            f"{r['peak_gb']:>17.2f} "
            f"{losses:>30} {rel:>9.1e}"
        )
    best = max(rows[1:], key=lambda r: r["images_per_s"])
    speedup = best["images_per_s"] / ref["images_per_s"]
    if not cuda:  # on a shared CPU wall time depends on the scheduler; process CPU time much less so
        print(
            f"CPU-time ratio: {ref['cpu_seconds'] / best['cpu_seconds']:.2f}x (reference / hypersiren "
            f"{best['precision']} CPU seconds per step; ~{args.threads}x wall time on an idle machine)"
        )
    print(
        f"speedup: {speedup:.2f}x images/s (hypersiren {best['precision']} vs reference fp32, "
        f"batch {args.batch_size}, {args.device})"
    )
    return {"rows": rows, "speedup": speedup}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--batch_size", type=int, default=100, help="images per step (the paper: 100)")
    p.add_argument("--steps", type=int, default=3, help="timed steps, after one warm-up step")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights (both sides) and the batches")
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "tf32", "all"],
        default="bf16",
        help="hypersiren's precision: bf16 autocast (default; on CUDA tf32 is added), fp32, tf32 "
        "(CUDA), or all; the reference is always fp32",
    )
    p.add_argument(
        "--no_channels_last",
        dest="channels_last",
        action="store_false",
        help="hypersiren's encoder weights and inputs in the default layout, not channels_last (its "
        "paper_cnn encoder always feeds its convolutions channels_last)",
    )
    p.add_argument(
        "--no_glibc_tunables",
        dest="glibc_tunables",
        action="store_false",
        help="run both sides without the training script's GLIBC_TUNABLES (malloc keeps freed memory)",
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for both sides")
    p.add_argument("--loss_steps", type=int, default=3, help="training steps of the loss check")
    p.add_argument("--loss_batch_size", type=int, default=10, help="images in the loss check's fixed batch")
    p.add_argument("--child", choices=["reference", "hypersiren", "conv"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.batch_size < 1 or args.steps < 1 or args.loss_steps < 0 or args.loss_batch_size < 1:
        p.error("--batch_size, --steps and --loss_batch_size must be positive, --loss_steps non-negative")
    return args


if __name__ == "__main__":
    cli = parse_args()
    if cli.child == "conv":
        print(json.dumps(run_conv(cli)))
    elif cli.child:
        print(json.dumps(run_side(cli)))
    else:
        main(cli)
