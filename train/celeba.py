"""Train the HyperSiren prior on CelebA with Accelerate (SIREN Sec. 4.4, supplement Sec. 9).

    accelerate launch train/celeba.py --config configs/celeba32.yaml            # the paper's setup (GPU)
    accelerate launch train/celeba.py --config configs/celeba32-cpu.yaml --data=DIR    # {train,val}.npz in DIR
    accelerate launch --multi_gpu --num_processes 2 train/celeba.py ...         # 2 gloo processes on a CPU
    python train/celeba.py --config configs/tiny.yaml --max_steps=10            # one process, no launcher

Any field of TrainConfig can be set as ``--key=value`` after (and over) the YAML file (``--help`` lists them
with their defaults). Batches and context masks come from generators seeded by (seed, step, process), so a
resumed run (``--resume_from=DIR|latest``) is identical to an uninterrupted one; Ctrl-C ends with the line
that says how. Each ``checkpoint-{step}/`` also holds the model's ``config.json``, so
``HyperSiren.from_pretrained`` loads it; the final export's model card records the data, steps and metrics.
What is not the loop (batches, losses, validation, checkpoint folders) is :mod:`hypersiren.training`; the schedules
are :mod:`hypersiren.utils.schedules`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import safetensors.torch
import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, broadcast, set_seed
from tqdm.auto import tqdm

from hypersiren.app import scripts
from hypersiren.data import DEFAULT_HUB_ID, all_images, celeba_dataset
from hypersiren.prior import HyperSiren, HyperSirenConfig
from hypersiren.training.batches import OFFGRID_TARGETS, batch_indices, training_batch
from hypersiren.training.ema import EMA
from hypersiren.training.hires import HiresSet, hires_sources
from hypersiren.training.losses import LossTerms, step_loss
from hypersiren.training.runs import (
    check_saved_config,
    checkpoint_minutes,
    checkpoint_step,
    checkpoints,
    init_weights,
    latest_checkpoint,
    peak_rss_gb,
    resume_line,
)
from hypersiren.training.validation import validate
from hypersiren.utils import config, generator
from hypersiren.utils.config import ConfigError, to_yaml
from hypersiren.utils.schedules import LR_SCHEDULES, lr_factor

EMA_NAME = "ema.safetensors"


@dataclass
class TrainConfig(HyperSirenConfig):
    """Model fields (inherited from HyperSirenConfig) plus everything about training."""

    # data
    data: str = DEFAULT_HUB_ID  # hub id, CelebA folder, npz folder/file or image folder
    train_limit: int | None = None  # use only the first N training images
    val_limit: int = 1000  # validation images (from the val split)
    # optimisation (the paper: Adam 5e-5, batch 100, clip 1.0, ~650k steps)
    max_steps: int = 650_000  # training steps
    batch_size: int = 100  # per process
    lr: float = 5e-5  # Adam learning rate
    lr_schedule: str = "constant"  # constant | cosine | exponential
    lr_final: float = 0.0  # cosine / exponential: the rate reached at max_steps, as a multiple of lr
    warmup_steps: int = 0  # linear learning-rate warm-up
    grad_clip: float = 1.0  # gradient norm clip (0: none)
    latent_reg: float = 0.1  # loss weight of mean(latent^2) (the paper's)
    param_reg: float = 100.0  # loss weight of mean(generated^2) (the paper's)
    log_mse: bool = False  # data term mean_b log(mse_b + 1e-5): each image weighs by its relative error
    missing_weight: float | None = None  # per image w * MSE(missing) + (1 - w) * MSE(observed) (None: plain mean)
    # context (the paper: k ~ U[10, 200), Bernoulli p = k / (H W))
    context_min: int = 10  # fewest context pixels k
    context_max: int = 200  # k < context_max (drawn per image)
    context_sampling: str = "bernoulli"  # bernoulli | exact
    context_log_uniform: bool = False  # draw k log-uniformly instead of uniformly
    hole_prob: float = 0.0  # share of images given a random square hole or a half instead
    context_dense_prob: float = 0.0  # share of images whose missing-pixel count is drawn log-uniformly instead
    context_empty_prob: float = 0.0  # share of images with nothing observed (a sampler that draws new faces)
    render_pixels: int | None = None  # render and supervise this many random pixels per step (None: all, the paper)
    # the same faces at higher sides (off-lattice targets): comma-separated sources, each face read from one that
    # holds it (by id, else by order), e.g. data/celeba128,data/celeba89 (each at its real resolution)
    hires_data: str | None = None
    hires_size: int | None = None  # the side hires_data is read at (None: an npz source's own, else twice image_size)
    offgrid_points: int = 0  # also render this many points off the pixel lattice per step (targets from hires_data)
    offgrid_targets: str = "bilinear"  # bilinear (anywhere, read bilinearly) | pixels (hires pixel centres, exact)
    offgrid_weight: float | None = None  # None: one data term over all points; w: the off-lattice term apart, times w
    hflip: bool = False  # flip each training image horizontally with probability 1/2
    ema_decay: float | None = None  # validate and export an exponential moving average of the weights (None: off)
    # the sampler (model field sampler != none): trained with the mean prior frozen, started from init_from
    train_sampler: bool = False  # train only the sampler (the mean prior's encoder, hypernetwork and SIREN frozen)
    # run
    cpu: bool = False  # train on the CPU even where a GPU is (Accelerate's choice otherwise)
    mixed_precision: str = "no"  # no | bf16 | fp16
    seed: int = 0  # seeds batches, masks and initialisation
    output_dir: str = "runs/celeba32"  # run folder: config, metrics, checkpoints, final export
    resume_from: str | None = None  # a checkpoint folder, or 'latest'
    init_from: str | None = None  # start from a prior's weights (name or folder, same model config); not when resuming
    checkpoint_every: int = 5000  # steps between checkpoint-{step}/ folders
    save_on_each_node: bool = False  # each node has its own filesystem: every node writes its checkpoint folders
    keep_checkpoints: int = 2  # newest checkpoints kept
    eval_every: int = 5000  # steps between validations
    log_every: int = 50  # steps between metrics.jsonl records
    tensorboard: bool = False  # also log to TensorBoard (Accelerate trackers)
    max_minutes: float | None = None  # stop (and save) after this much wall time

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field (the model fields check themselves)."""
        pixels = self.image_size**2
        for ok, message in [
            (
                self.lr_schedule in LR_SCHEDULES,
                f"lr_schedule is one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}",
            ),
            (self.lr_schedule != "exponential" or self.lr_final > 0, "lr_schedule exponential needs lr_final > 0"),
            (
                self.context_sampling in ("bernoulli", "exact"),
                f"context_sampling is 'bernoulli' or 'exact', got {self.context_sampling!r}",
            ),
            (
                self.mixed_precision in ("no", "bf16", "fp16"),
                f"mixed_precision is no, bf16 or fp16, got {self.mixed_precision!r}",
            ),
            (
                self.render_pixels is None or 1 <= self.render_pixels <= pixels,
                f"render_pixels must lie in [1, {pixels}] for image_size={self.image_size}, got {self.render_pixels}",
            ),
            (
                min(self.batch_size, self.keep_checkpoints, self.checkpoint_every, self.eval_every, self.log_every)
                >= 1,
                "batch_size, keep_checkpoints, checkpoint_every, eval_every and log_every must be positive",
            ),
            (self.ema_decay is None or 0 < self.ema_decay < 1, f"ema_decay must lie in (0, 1), got {self.ema_decay}"),
            (
                0 <= self.context_dense_prob <= 1,
                f"context_dense_prob must lie in [0, 1], got {self.context_dense_prob}",
            ),
            (
                self.missing_weight is None or 0 <= self.missing_weight <= 1,
                f"missing_weight must lie in [0, 1], got {self.missing_weight}",
            ),
            (self.offgrid_points >= 0, f"offgrid_points must be >= 0, got {self.offgrid_points}"),
            (
                self.offgrid_targets in OFFGRID_TARGETS,
                f"offgrid_targets is one of {', '.join(OFFGRID_TARGETS)}, got {self.offgrid_targets!r}",
            ),
            (
                self.hires_data is None or self.offgrid_points > 0,
                "hires_data gives off-lattice targets: set offgrid_points too",
            ),
            (
                self.offgrid_weight is None or self.offgrid_weight >= 0,
                f"offgrid_weight must be >= 0 (or none: one data term), got {self.offgrid_weight}",
            ),
            (
                not self.train_sampler or self.init_from is not None or self.resume_from is not None,
                "train_sampler trains a sampler on a trained mean prior, which stays frozen: give init_from (or "
                "resume_from)",
            ),
            (
                not self.train_sampler or self.sampler != "none",
                "train_sampler trains the model's sampler: set sampler (pixel_flow) too",
            ),
            (
                not self.train_sampler or self.offgrid_points == 0,
                "train_sampler trains the sampler on the model's pixels: offgrid_points does not apply (set it to 0)",
            ),
            (
                0 <= self.context_empty_prob <= 1,
                f"context_empty_prob must lie in [0, 1], got {self.context_empty_prob}",
            ),
        ]:
            if not ok:
                raise ConfigError(message)


USAGE = "train/celeba.py [--config FILE] [--key=value ...]   (or: accelerate launch train/celeba.py ...)"


def parse_args(argv: Sequence[str]) -> TrainConfig:
    """``--config FILE`` then ``--key=value`` flags -> a TrainConfig (unknown keys raise)."""
    return config.parse_args(TrainConfig, argv)


def model_config(cfg: TrainConfig) -> HyperSirenConfig:
    """The HyperSirenConfig part of a TrainConfig."""
    return HyperSirenConfig(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(HyperSirenConfig)})


class Data(NamedTuple):
    """A run's faces: ``(N, C, S, S)`` uint8 each, and their higher-resolution copies (off-lattice targets)."""

    train: torch.Tensor
    val: torch.Tensor
    train_hires: HiresSet | None = None
    val_hires: torch.Tensor | None = None  # (N_val, C, S', S') at one larger side, for validation


class Trainer(NamedTuple):
    """What the loop steps: the prepared model, optimiser and schedule, and the weights' average."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    ema: EMA | None


def main(cfg: TrainConfig) -> dict[str, float]:
    """Train, checkpoint, validate and export; returns the last validation metrics."""
    cfg.validate()
    accelerator = make_accelerator(cfg)
    set_seed(cfg.seed)
    data = load_data(cfg, accelerator)
    trainer = build(cfg, accelerator)
    start, before = resume(accelerator, cfg, trainer.ema) if cfg.resume_from else (0, 0.0)  # before: earlier minutes
    out = Path(cfg.output_dir)
    if writer(accelerator, cfg):
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(to_yaml(cfg))
    if cfg.tensorboard:
        accelerator.init_trackers("celeba", config={k: v for k, v in dataclasses.asdict(cfg).items() if v is not None})
    t0 = time.time()
    metrics, done = train(cfg, accelerator, data, trainer, start, before)
    if start >= cfg.max_steps:
        metrics = evaluate(trainer, data, cfg, accelerator)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        world = accelerator.num_processes
        record = {
            "data": cfg.data,
            "train_images": len(data.train),
            "val_images": len(data.val),
            "steps": done,
            "batch_size": cfg.batch_size * world,
            "minutes": before + (time.time() - t0) / 60,
            **({"resumed_at": start} if start else {}),
            "device": f"{world} x {accelerator.device.type}",
            "overrides": config.changed(cfg),
            "metrics": dict(metrics),
        }
        metrics = export(accelerator, trainer, out, record, metrics)
    accelerator.end_training()
    summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    accelerator.print(f"trained to step {done}: {summary}; exported to {out}")
    return metrics


def make_accelerator(cfg: TrainConfig) -> Accelerator:
    """The run's Accelerator (CPU, one GPU, several processes or machines), its set-up printed."""
    # Accelerate makes torchrun's workers on a machine without GPUs independent single processes unless it is
    # told cpu=True; with it they form one gloo group (`accelerate launch --multi_gpu --num_processes 2`).
    multi_process_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    project = ProjectConfiguration(project_dir=cfg.output_dir, save_on_each_node=cfg.save_on_each_node)
    accelerator = Accelerator(
        cpu=cfg.cpu or multi_process_cpu,
        mixed_precision=cfg.mixed_precision,
        log_with="tensorboard" if cfg.tensorboard else None,
        project_config=project,
    )
    threads, cores = torch.get_num_threads(), len(os.sched_getaffinity(0))
    accelerator.print(
        f"processes: {accelerator.num_processes} ({accelerator.distributed_type}), "
        f"device: {accelerator.device}, mixed precision: {cfg.mixed_precision}, threads: {threads} of {cores} cores"
    )
    if accelerator.device.type == "cpu" and threads * accelerator.num_processes < cores:
        # `accelerate launch` sets OMP_NUM_THREADS=1 when it is unset and --cpu is not given (accelerate 1.x):
        # a CPU run then trains at half speed or less (2 cores: 4.0 s against 2.3 s a step, celeba32-x4-cpu)
        accelerator.print(
            f"note: torch uses {threads} thread(s) per process on {cores} cores; for a CPU run set "
            f"OMP_NUM_THREADS={max(1, cores // accelerator.num_processes)} before accelerate launch"
        )
    return accelerator


def load_data(cfg: TrainConfig, accelerator: Accelerator) -> Data:
    """The train and val faces, and their higher-resolution copies where ``hires_data`` names them; the training
    faces where the steps run (on a GPU each batch is indexed there; on a CPU no copy: a memory-mapped cache stays
    mapped)."""
    train_set = celeba_dataset(cfg.data, "train", cfg.image_size, limit=cfg.train_limit)
    val_set = celeba_dataset(cfg.data, "val", cfg.image_size, limit=cfg.val_limit)
    train, val = all_images(train_set), all_images(val_set)  # (N, C, H, W) uint8
    accelerator.print(f"data: {cfg.data}: {len(train)} train, {len(val)} val images")
    train_hires = val_hires = None
    if cfg.hires_data is not None:
        train_hires = hires_sources(cfg.hires_data, "train", train_set, cfg.hires_size, cfg.train_limit)
        if train_hires is None:
            raise ConfigError(f"hires_data={cfg.hires_data!r}: no source has a train split")
        val_sources = hires_sources(cfg.hires_data, "val", val_set, cfg.hires_size, cfg.val_limit)
        val_hires = val_sources.whole() if val_sources is not None else None  # validation renders at one side
        accelerator.print(
            f"hires data (train): {train_hires.describe()}; validation at "
            f"{val_hires.shape[-1] if val_hires is not None else 'no larger side'}"
        )
        train_hires = train_hires.to(accelerator.device)
    return Data(train.to(accelerator.device), val, train_hires, val_hires)


def build(cfg: TrainConfig, accelerator: Accelerator) -> Trainer:
    """The model (from ``init_from``'s weights, its trained part chosen), Adam and the schedule, prepared."""
    model = HyperSiren(model_config(cfg))
    if cfg.init_from is not None and not cfg.resume_from:
        init_weights(model, cfg.init_from)
        accelerator.print(f"initialised from {cfg.init_from}")
    if cfg.train_sampler:  # the mean prior stays as it is: inpaint and render keep their numbers
        model.requires_grad_(False)
        model.sampler.requires_grad_(True)
    elif model.sampler is not None:  # training the mean prior of a model with a sampler leaves the sampler as it is
        model.sampler.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    factor = functools.partial(
        lr_factor, steps=cfg.max_steps, schedule=cfg.lr_schedule, warmup_steps=cfg.warmup_steps, final=cfg.lr_final
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    ema = EMA(accelerator.unwrap_model(model), cfg.ema_decay) if cfg.ema_decay is not None else None
    return Trainer(model, optimizer, scheduler, ema)


def train(
    cfg: TrainConfig, accelerator: Accelerator, data: Data, trainer: Trainer, start: int, before: float
) -> tuple[dict[str, float], int]:
    """The loop from step ``start``: log, validate, checkpoint, stop at ``max_minutes``; returns the last
    validation's metrics and the steps done (``before``: the minutes of the runs this one resumes)."""
    model, optimizer, scheduler, ema = trainer
    rank, world, device = accelerator.process_index, accelerator.num_processes, accelerator.device
    log_file = Path(cfg.output_dir) / "metrics.jsonl"
    metrics: dict[str, float] = {}
    t0, done = time.time(), start
    bar = tqdm(range(start, cfg.max_steps), initial=start, total=cfg.max_steps, disable=not accelerator.is_main_process)
    model.train()
    for step in bar:
        idx = batch_indices(cfg.seed, step, len(data.train), cfg.batch_size, rank, world, device)
        hires = data.train_hires.batch(idx) if data.train_hires is not None else None
        batch = training_batch(cfg, step, rank, data.train[idx], hires, device)
        loss = step_loss(model, cfg, batch, generator(cfg.seed, step, rank, 4, device=device), accelerator.autocast)
        accelerator.backward(loss.total)
        if cfg.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(accelerator.unwrap_model(model))
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.max_steps:
            record = {
                "step": done,
                **loss_record(cfg, loss),
                "lr": scheduler.get_last_lr()[0],
                "images_per_s": (done - start) * cfg.batch_size * world / (time.time() - t0),
            }
            shown = "flow" if cfg.train_sampler else "mse"
            bar.set_postfix({shown: f"{record[shown]:.4f}", "ips": f"{record['images_per_s']:.0f}"})
            log(accelerator, log_file, record, cfg.tensorboard)
        out_of_time = False
        if cfg.max_minutes is not None and done % cfg.log_every == 0:  # the main process's clock, told to all: one
            late = torch.tensor([(time.time() - t0) / 60 > cfg.max_minutes], device=device)  # wait for the device
            out_of_time = bool(broadcast(late, from_process=0))  # every log_every steps, not every step
        if done % cfg.eval_every == 0 or done == cfg.max_steps or out_of_time:
            metrics = evaluate(trainer, data, cfg, accelerator)
            log(accelerator, log_file, {"step": done, **{f"val_{k}": v for k, v in metrics.items()}}, cfg.tensorboard)
            accelerator.print(f"step {done}: " + ", ".join(f"val {k} {v:.4f}" for k, v in metrics.items()))
        if done % cfg.checkpoint_every == 0 or done == cfg.max_steps or out_of_time:
            save_checkpoint(accelerator, cfg, done, ema, before + (time.time() - t0) / 60)
        if out_of_time:
            accelerator.print(f"max_minutes={cfg.max_minutes} reached at step {done}")
            break
    return metrics, done


def loss_record(cfg: TrainConfig, loss: LossTerms) -> dict[str, float]:
    """A step's loss terms for ``metrics.jsonl``: the sampler's flow loss, or the prior's terms."""
    terms = {"loss": loss.total}
    if cfg.train_sampler:
        terms["flow"] = loss.flow
    else:
        terms.update(mse=loss.mse, latent_sq=loss.latent_sq, params_sq=loss.params_sq)
        if cfg.offgrid_weight is not None:
            terms["mse_offgrid"] = loss.offgrid
    return {k: v.item() for k, v in terms.items()}


def export(accelerator: Accelerator, trainer: Trainer, out: Path, record: dict, metrics: dict) -> dict[str, float]:
    """The final ``save_pretrained`` export (the weights' average where there is one) with its model card, and
    ``final_metrics.json`` (main process); returns the metrics with the run's peak memory."""
    (out / "README.md").unlink(missing_ok=True)  # save_pretrained keeps an existing card: write this run's
    final = accelerator.unwrap_model(trainer.model)
    if trainer.ema is not None:
        trainer.ema.copy_to(final)  # the export is the average (training has ended)
    final.save_pretrained(out, model_card_kwargs={"training": record})
    metrics = {**metrics, "peak_rss_gb": peak_rss_gb()}
    if accelerator.device.type == "cuda":
        metrics["peak_gpu_memory_gb"] = torch.cuda.max_memory_allocated(accelerator.device) / 2**30
    (out / "final_metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def writer(accelerator: Accelerator, cfg: TrainConfig) -> bool:
    """Whether this process completes, renames and prunes checkpoint folders: the main process of the run (one
    shared filesystem), or of its node (``save_on_each_node``: a filesystem per node)."""
    return accelerator.is_local_main_process if cfg.save_on_each_node else accelerator.is_main_process


def resume(accelerator: Accelerator, cfg: TrainConfig, ema: EMA | None) -> tuple[int, float]:
    """Load the state of ``cfg.resume_from`` (a folder, or ``latest``); returns its step and the training minutes
    behind it."""
    out = Path(cfg.output_dir)
    ckpt = latest_checkpoint(out) if cfg.resume_from == "latest" else Path(cfg.resume_from)
    if ckpt is None or not (ckpt / "step.json").is_file():
        raise ConfigError(f"resume_from={cfg.resume_from!r}: no complete checkpoint found (in {out})")
    check_saved_config(ckpt, model_config(cfg))  # the run goes on with the model it saved
    accelerator.load_state(str(ckpt))
    if ema is not None:
        if not (ckpt / EMA_NAME).is_file():
            raise ConfigError(f"ema_decay is set but {ckpt} holds no {EMA_NAME} (trained without EMA?)")
        ema.load_state_dict(safetensors.torch.load_file(str(ckpt / EMA_NAME)))
    step = checkpoint_step(ckpt)
    steps = accelerator.gather(torch.tensor([step], device=accelerator.device)).tolist()
    if len(set(steps)) > 1:  # e.g. nodes with a filesystem each, one of which lost its newest checkpoint
        raise ConfigError(
            f"resume_from={cfg.resume_from!r}: the processes found checkpoints of different steps "
            f"{steps}; give one checkpoint folder that every node has"
        )
    accelerator.print(f"resumed from {ckpt} at step {step}")
    return step, checkpoint_minutes(ckpt)


def save_checkpoint(accelerator: Accelerator, cfg: TrainConfig, step: int, ema: EMA | None, minutes: float) -> None:
    """``checkpoint-{step}/``: Accelerate's state, the EMA, the step and the model's ``config.json``, written to a
    temporary folder and renamed (a checkpoint is complete or absent); only the newest ``keep_checkpoints`` stay.

    Every process writes its part (its random states) into the temporary folder; all of them finish before it is
    renamed. The folder is renamed by the main process, or with ``save_on_each_node`` (a filesystem per node) by each
    node's main process, on its node."""
    out = Path(cfg.output_dir)
    final, tmp = out / f"checkpoint-{step}", out / f"checkpoint-{step}.tmp"
    accelerator.save_state(str(tmp))  # every process writes its part; save_state itself waits for nobody
    accelerator.wait_for_everyone()  # so nothing is renamed while a slower process still writes into tmp
    if writer(accelerator, cfg):
        if ema is not None:
            safetensors.torch.save_file(ema.state_dict(), str(tmp / EMA_NAME))
        (tmp / "step.json").write_text(json.dumps({"step": step, "minutes": minutes}))  # minutes: every run's
        # the model's config beside Accelerate's model.safetensors: HyperSiren.from_pretrained loads the folder
        (tmp / "config.json").write_text(json.dumps(dataclasses.asdict(model_config(cfg)), indent=2) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in checkpoints(out)[: -cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def evaluate(trainer: Trainer, data: Data, cfg: TrainConfig, accelerator: Accelerator) -> dict:
    """:func:`hypersiren.training.validation.validate` on this process's share, gathered; on the averaged weights when
    there are any."""
    model = trainer.model
    applied = (
        trainer.ema.applied(accelerator.unwrap_model(model)) if trainer.ema is not None else contextlib.nullcontext()
    )
    with applied:
        return validate(
            model,
            data.val,
            seed=cfg.seed,
            batch_size=cfg.batch_size,
            device=accelerator.device,
            gather=accelerator.gather,
            rank=accelerator.process_index,
            world=accelerator.num_processes,
            autocast=accelerator.autocast,
            hires=data.val_hires,
            sampler=cfg.train_sampler,
        )


def log(accelerator: Accelerator, path: Path, record: dict, tensorboard: bool) -> None:
    """One line of ``metrics.jsonl`` (main process), and the trackers."""
    if accelerator.is_main_process:
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")
    if tensorboard:
        accelerator.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])


def interrupted(cfg: TrainConfig | None, argv: Sequence[str], launcher: str) -> str:
    """The line Ctrl-C ends with: the last complete checkpoint and the command that resumes from it."""
    if cfg is None:
        return "interrupted before training started"
    return resume_line(cfg.output_dir, cfg.checkpoint_every, [*launcher.split(), "train/celeba.py", *argv])


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse, run; a bad input prints one ``error: ...`` line and returns 2, Ctrl-C the resume line and 130."""
    argv = sys.argv[1:] if argv is None else list(argv)
    launcher = "accelerate launch" if "LOCAL_RANK" in os.environ else "python"  # started by accelerate / torchrun
    return scripts.run(
        main, TrainConfig, __doc__, USAGE, argv=argv, on_interrupt=lambda cfg: interrupted(cfg, argv, launcher)
    )


if __name__ == "__main__":
    scripts.use_glibc_tunables()
    sys.exit(cli())
