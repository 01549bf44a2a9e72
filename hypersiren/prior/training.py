"""The parts of a prior's training run that are not its loop (``train/celeba.py``; SIREN supplement Sec. 9).

- :func:`batch_indices`: which images a process sees at a step: a fresh permutation per epoch, seeded by
  (seed, epoch), so a resumed run sees exactly what an uninterrupted one would.
- :func:`lr_factor`: linear warm-up, then constant (the paper's) or cosine decay to zero.
- :func:`validation_masks`: the fixed validation contexts: exactly 100 and 1000 random pixels (seeded), the
  centred hole, everything.
- :func:`hires_sources`: higher-resolution copies of the training faces (off-lattice targets), from one or more
  sources, matched by id (or by order, checked by :func:`same_faces`).
- checkpoint folders ``checkpoint-{step}/`` (:func:`checkpoints`, :func:`latest_checkpoint`) and
  :func:`resume_line`, what Ctrl-C ends with.

No Accelerator here: the script owns the processes; these take their rank and world size as numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import resource
import shlex
from pathlib import Path
from typing import NamedTuple

import torch

from hypersiren.data.celeba import MissingSplit, all_images, celeba_dataset
from hypersiren.data.images import DataError, to_model_range
from hypersiren.masks.kinds import center, random_context
from hypersiren.metrics.image import psnr, to_unit
from hypersiren.prior.batches import Hires
from hypersiren.prior.checkpoints import CheckpointError
from hypersiren.prior.config import HyperSirenConfig
from hypersiren.prior.model import HyperSiren
from hypersiren.utils import seeds
from hypersiren.utils.config import ConfigError

LR_SCHEDULES = ("constant", "cosine")


def batch_indices(
    seed: int, step: int, n: int, batch_size: int, rank: int = 0, world: int = 1, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """This process's ``batch_size`` image indices for ``step`` (the global batch is ``batch_size * world``), drawn
    on ``device`` (where the images are)."""
    global_batch = batch_size * world
    per_epoch = max(1, n // global_batch)
    epoch, pos = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=seeds.generator(seed, epoch, device=device), device=device)
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
        "mse_full": torch.ones(n, 1, height, width, dtype=torch.bool, device="cpu"),
    }


class HiresSet(NamedTuple):
    """Higher-resolution copies of a split's faces (off-lattice targets), from one or more sources.

    Attributes:
        images: per source ``(M_k, C, s_k, s_k)`` uint8, the faces it holds at its side.
        rows: ``(N, K)`` long, the row of each of the split's ``N`` faces in each source, -1 where it has none.
        names: the sources, as given.
        complete: whether some source holds every face.
    """

    images: tuple[torch.Tensor, ...]
    rows: torch.Tensor
    names: tuple[str, ...]
    complete: bool = False

    def batch(self, index: torch.Tensor) -> Hires | torch.Tensor:
        """The faces ``index`` ``(B,)`` from every source, for :func:`~hypersiren.prior.batches.training_batch`: a
        :class:`Hires`, or one tensor ``(B, C, s, s)`` when a single source holds every face (one scale)."""
        rows = self.rows[index]  # (B, K)
        if self.single:
            return self.images[0][rows[:, 0]]
        return Hires(tuple(t[rows[:, k].clamp(min=0)] for k, t in enumerate(self.images)), rows >= 0)

    @property
    def single(self) -> bool:
        """One source that holds every face (decided once, on the host, where the set is built)."""
        return len(self.images) == 1 and self.complete

    def to(self, device: torch.device | str) -> HiresSet:
        return HiresSet(tuple(t.to(device) for t in self.images), self.rows.to(device), self.names, self.complete)

    def whole(self) -> torch.Tensor | None:
        """The first source that holds every face, in the split's order (validation renders at its side), or None."""
        for k, t in enumerate(self.images):
            if bool((self.rows[:, k] >= 0).all()):
                return t[self.rows[:, k]]
        return None

    def describe(self) -> str:
        held = (self.rows >= 0).sum(0).tolist()
        return ", ".join(f"{name}: {n} faces at {t.shape[-1]}x{t.shape[-1]}"
                         for name, n, t in zip(self.names, held, self.images, strict=True))  # fmt: skip


def hires_sources(spec: str, split: str, dataset, side: int | None = None, limit: int | None = None) -> HiresSet | None:
    """The faces of ``dataset`` (a :func:`~hypersiren.data.celeba_dataset` of the split) at higher resolutions, from
    the comma-separated data sources of ``spec`` (``hires_data``): each read at ``side``, or at its own side (npz
    arrays; None). Matched by CelebA id where the split and the source both have ids, else by order (the same number
    of faces, checked by :func:`same_faces`). A source without the split is skipped.

    Returns:
        None when no source has the split.

    Raises:
        DataError: a source that cannot be read, holds none of the faces, or (matched by order) other faces.
    """
    images = all_images(dataset)
    by_id = getattr(dataset, "has_ids", False)
    found, rows, names = [], [], []
    for source in (s.strip() for s in spec.split(",") if s.strip()):
        try:
            hires = celeba_dataset(source, split, side, limit=None if by_id else limit)
        except MissingSplit:
            continue
        if by_id and getattr(hires, "has_ids", False):
            position = {int(i): r for r, i in enumerate(hires.ids.tolist())}
            row = torch.tensor([position.get(int(i), -1) for i in dataset.ids.tolist()], dtype=torch.long)
            if not bool((row >= 0).any()):
                raise DataError(f"hires_data {source} {split}: none of its {len(hires)} faces is among the "
                                f"{len(images)} of the data (matched by id)")  # fmt: skip
            found.append(all_images(hires))
            held = torch.nonzero(row >= 0)[:, 0]
            _check_same(f"hires_data {source} {split}", found[-1][row[held]], images[held], "under the same ids")
        else:
            found.append(same_faces(source, split, side or 2 * images.shape[-1], images, limit))
            row = torch.arange(len(images))
        rows.append(row)
        names.append(source)
    if not found:
        return None
    rows = torch.stack(rows, 1)
    return HiresSet(tuple(found), rows, tuple(names), bool((rows >= 0).all(0).any()))


def same_faces(data: str, split: str, side: int, images: torch.Tensor, limit: int | None = None) -> torch.Tensor:
    """The faces of ``images`` at another ``side``, from the data source ``data`` (e.g. ``data/celeba64`` beside
    ``shared/data/celeba32``): ``(N, C, side, side)`` uint8, checked to be the same faces in the same order.

    Raises:
        DataError: another number of faces, other ids, or faces that do not look like ``images`` (an area
            downsample of each of the first 16 under 20 dB PSNR against its counterpart: another order).
    """
    dataset = celeba_dataset(data, split, side, limit=limit)
    hires = all_images(dataset)
    if len(hires) != len(images):
        raise DataError(f"{data} {split}: {len(hires)} faces, the training data has {len(images)}: not the same faces")
    _check_same(f"{data} {split}", hires, images, "in the same order")
    return hires


def _check_same(name: str, hires: torch.Tensor, images: torch.Tensor, how: str, k: int = 16) -> None:
    """Raise :class:`DataError` unless an area downsample of each of the first ``k`` of ``hires`` is within 20 dB
    PSNR of its counterpart in ``images`` (both ``(N, C, s, s)`` uint8, paired by position)."""
    k = min(k, len(images))
    if not k:
        return
    small = torch.nn.functional.adaptive_avg_pool2d(to_model_range(hires[:k]), images.shape[-2:])
    close = psnr(to_unit(small), to_unit(to_model_range(images[:k])))
    if bool((close < 20).any()):
        bad = int(torch.nonzero(close < 20)[0])
        raise DataError(f"{name}: face {bad} does not match the training data's ({close[bad]:.1f} dB between them): "
                        f"not the same faces {how}")  # fmt: skip


def _addable(field: str, theirs: dict) -> bool:
    """Whether a run may set model ``field`` other than the prior it starts from has it: a part the prior has off
    that adds parameters without changing what the prior computes (a zero-initialised cell; a sampler, which only
    draws), so the started model completes as the prior did."""
    if field == "cell_input":
        return not theirs["cell_input"]
    if field == "cell_max_scale":  # no weight: the largest scale the cell is trained to (renderings beyond clamp)
        return True
    return field.startswith("sampler") and theirs["sampler"] == "none"


def init_weights(model: HyperSiren, source: str) -> None:
    """Copy the weights of the prior ``source`` (name, export or checkpoint folder) into ``model`` (``init_from``).

    The model configs must agree but for ``cell_input`` or a sampler (``sampler*``) added by the run (the new cell
    starts at zero, the new sampler as initialised), and ``cell_max_scale`` (the run trains the cell to another
    largest scale).

    Raises:
        ConfigError: the prior cannot be loaded, or its model config differs from the run's (the fields named).
    """
    try:
        prior = HyperSiren.from_pretrained(source)
    except CheckpointError as err:
        raise ConfigError(f"init_from={source!r}: {err}") from None
    theirs, ours = dataclasses.asdict(prior.config), dataclasses.asdict(model.config)
    differ = [k for k in ours if theirs[k] != ours[k] and not _addable(k, theirs)]
    if differ:
        raise ConfigError(f"init_from={source!r} has another model config: " +
                          ", ".join(f"{k}={theirs[k]!r} (run: {ours[k]!r})" for k in differ))  # fmt: skip
    missing, unexpected = model.load_state_dict(prior.state_dict(), strict=False)
    new = {name for name, _ in model.named_parameters()} - set(prior.state_dict())
    if unexpected or set(missing) - new:
        raise ConfigError(f"init_from={source!r}: weights do not fit the run's model (missing {sorted(missing)[:5]}, "
                          f"unexpected {sorted(unexpected)[:5]})")  # fmt: skip


def check_saved_config(folder: str | Path, config: HyperSirenConfig) -> None:
    """Refuse to resume ``folder`` (a ``checkpoint-N/``) with another model config than it saved (a field a 0.1
    ``config.json`` lacks has its old meaning, :attr:`HyperSirenConfig.SAVED_BEFORE`).

    Raises:
        ConfigError: the fields that differ, with both values.
    """
    path = Path(folder) / "config.json"
    if not path.is_file():  # checkpoints written before they carried one: nothing to hold against
        return
    saved = {**HyperSirenConfig.SAVED_BEFORE, **json.loads(path.read_text())}
    ours = dataclasses.asdict(config)
    differ = [f"{k}={saved.get(k)!r} (run: {v!r})" for k, v in ours.items() if saved.get(k, v) != v]
    if differ:
        raise ConfigError(f"resume_from={str(folder)!r} saved another model config: {', '.join(differ)}")


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


def checkpoint_minutes(folder: str | Path) -> float:
    """The training minutes behind a checkpoint, over every run that led to it (0 for checkpoints saved before
    they were counted)."""
    return float(json.loads((Path(folder) / "step.json").read_text()).get("minutes", 0.0))


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
