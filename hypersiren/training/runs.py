"""A training run's folders and starts: ``checkpoint-{step}/`` folders (:func:`checkpoints`, :func:`latest_checkpoint`,
the step and minutes behind one), :func:`resume_line` (what Ctrl-C ends with), :func:`check_saved_config` (a resume
goes on with the model it saved), :func:`init_weights` (``init_from``: a run that starts from a prior's weights) and
:func:`peak_rss_gb`.

No Accelerator here: the script owns the processes and their folders' writes (``train/celeba.py``).
"""

from __future__ import annotations

import dataclasses
import json
import resource
import shlex
from pathlib import Path

from hypersiren.prior.checkpoints import CheckpointError
from hypersiren.prior.config import HyperSirenConfig
from hypersiren.prior.model import HyperSiren
from hypersiren.utils.config import ConfigError


def _addable(field: str, theirs: dict) -> bool:
    """Whether a run may set model ``field`` other than the prior it starts from has it: a part the prior has off
    that adds parameters without changing what the prior computes (a zero-initialised cell; a sampler, which only
    draws), so the started model completes as the prior did."""
    if field == "cell_input":
        return not theirs["cell_input"]
    if field in ("cell_max_scale", "sampler_churn", "sampler_time"):  # no weight: the cell's largest trained scale,
        # how draws step, how training draws the flow's time
        return True
    return field.startswith("sampler") and theirs["sampler"] == "none"


def init_weights(model: HyperSiren, source: str) -> None:
    """Copy the weights of the prior ``source`` (name, export or checkpoint folder) into ``model`` (``init_from``).

    The model configs must agree but for ``cell_input`` or a sampler (``sampler*``) added by the run (the new cell
    starts at zero, the new sampler as initialised), ``cell_max_scale`` (the run trains the cell to another
    largest scale), ``sampler_churn`` (how a draw steps, not what is trained) and ``sampler_time`` (how the flow's
    training draws its time).

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
        raise ConfigError(
            f"init_from={source!r} has another model config: "
            + ", ".join(f"{k}={theirs[k]!r} (run: {ours[k]!r})" for k in differ)
        )
    missing, unexpected = model.load_state_dict(prior.state_dict(), strict=False)
    new = {name for name, _ in model.named_parameters()} - set(prior.state_dict())
    if unexpected or set(missing) - new:
        raise ConfigError(
            f"init_from={source!r}: weights do not fit the run's model (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )


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
        return (
            f"interrupted before the first checkpoint in {output_dir} (every {checkpoint_every} steps): "
            f"nothing to resume; start again with: {shlex.join(kept)}"
        )
    return (
        f"interrupted: last checkpoint {ckpt} (step {checkpoint_step(ckpt)}); resume with: {shlex.join(kept)} "
        "--resume_from=latest"
    )


def peak_rss_gb() -> float:
    """This process's peak resident memory in GB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
