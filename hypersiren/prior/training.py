"""The parts of a prior's training run that are not its loop (``train/celeba.py``; SIREN supplement Sec. 9).

- :func:`batch_indices`: which images a process sees at a step: a fresh permutation per epoch, seeded by
  (seed, epoch), so a resumed run sees exactly what an uninterrupted one would.
- :func:`lr_factor`: linear warm-up, then constant (the paper's) or cosine decay to zero.
- :func:`validation_masks`: the fixed validation contexts: exactly 100 and 1000 random pixels (seeded), the
  centred hole, everything.
- checkpoint folders ``checkpoint-{step}/`` (:func:`checkpoints`, :func:`latest_checkpoint`) and
  :func:`resume_line`, what Ctrl-C ends with.

No Accelerator here: the script owns the processes; these take their rank and world size as numbers.
"""

from __future__ import annotations

import json
import math
import resource
import shlex
from pathlib import Path

import torch

from hypersiren.masks.kinds import center, random_context
from hypersiren.utils import seeds

LR_SCHEDULES = ("constant", "cosine")


def batch_indices(seed: int, step: int, n: int, batch_size: int, rank: int = 0, world: int = 1) -> torch.Tensor:
    """This process's ``batch_size`` image indices for ``step`` (the global batch is ``batch_size * world``)."""
    global_batch = batch_size * world
    per_epoch = max(1, n // global_batch)
    epoch, pos = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=seeds.generator(seed, epoch))
    return perm[pos * global_batch : (pos + 1) * global_batch][rank::world]


def lr_factor(step: int, max_steps: int, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """The learning rate at ``step`` as a multiple of the peak (for ``torch.optim.lr_scheduler.LambdaLR``)."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if schedule == "cosine":
        return warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, max_steps))))
    if schedule == "constant":
        return warm
    raise ValueError(f"lr_schedule is 'constant' or 'cosine', got {schedule!r}")


def validation_masks(n: int, height: int, width: int, seed: int) -> dict[str, torch.Tensor]:
    """The validation contexts by metric name, each ``(n, 1, H, W)`` bool (the same at every validation)."""
    return {
        "mse_ctx100": random_context(n, height, width, min(100, height * width), seeds.generator(seed, -1)),
        "mse_ctx1000": random_context(n, height, width, min(1000, height * width), seeds.generator(seed, -2)),
        "mse_center": center(height, width).expand(n, 1, height, width),
        "mse_full": torch.ones(n, 1, height, width, dtype=torch.bool),
    }


def checkpoints(output_dir: str | Path) -> list[Path]:
    """The run's ``checkpoint-{step}/`` folders, oldest first (a ``.tmp`` being written is not one)."""
    return sorted(Path(output_dir).glob("checkpoint-*[0-9]"), key=lambda p: int(p.name.split("-")[1]))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder (one with its ``step.json``), or None."""
    done = [p for p in checkpoints(output_dir) if (p / "step.json").is_file()]
    return done[-1] if done else None


def checkpoint_step(folder: str | Path) -> int:
    """The step a checkpoint folder was saved at."""
    return json.loads((Path(folder) / "step.json").read_text())["step"]


def resume_line(output_dir: str | Path, checkpoint_every: int, command: list[str]) -> str:
    """The line Ctrl-C ends with: the last complete checkpoint and the command that resumes from it.

    Args:
        command: the command that started the run (its own ``--resume_from`` is dropped).
    """
    kept, skip = [], False
    for arg in command:
        if skip or arg.startswith(("--resume_from", "--resume-from")):
            skip = arg in ("--resume_from", "--resume-from")  # its value is the next word
            continue
        kept.append(arg)
    ckpt = latest_checkpoint(output_dir)
    if ckpt is None:
        return (f"interrupted before the first checkpoint in {output_dir} (every {checkpoint_every} steps): "
                f"nothing to resume; start again with: {shlex.join(kept)}")  # fmt: skip
    return (
        f"interrupted: last checkpoint {ckpt} (step {checkpoint_step(ckpt)}); resume with: {shlex.join(kept)} "
        "--resume_from=latest"
    )


def peak_rss_gb() -> float:
    """This process's peak resident memory in GB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
