"""Where a HyperSiren checkpoint comes from, and the model card an export carries.

``HyperSiren.from_pretrained(source)`` takes, in this order:

1. a local folder written by ``save_pretrained`` (``config.json`` + ``model.safetensors``);
2. a ``checkpoint-N/`` folder of a training run (Accelerate ``save_state``): its ``config.json``, or for
   checkpoints written before they carried one, the model fields of the run's ``config.yaml`` beside it;
3. the name of a prior shipped in the package (:func:`hypersiren.pretrained.available`), from any working
   directory;
4. a Hugging Face Hub id ``owner/name``.

Anything else raises :class:`CheckpointError` naming what would have worked, instead of huggingface_hub's
``HFValidationError`` for a relative path that does not exist here.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

from hypersiren import pretrained

CONFIG_NAME = "config.json"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, corrupt, or does not match its config."""


def _what_works() -> str:
    return (f"give a folder written by save_pretrained (config.json + model.safetensors), a training run's "
            f"checkpoint-N/ folder, a shipped prior ({', '.join(pretrained.available()) or 'none shipped'}) "
            f"or a Hub id owner/name")  # fmt: skip


def resolve(source: str | Path, config_fields: Collection[str]) -> tuple[str, dict[str, Any] | None]:
    """What to hand to huggingface_hub's loader for ``source``.

    Args:
        source: a folder, a training checkpoint folder, a shipped prior's name or a Hub id.
        config_fields: the model config's field names (read from a run's ``config.yaml`` when needed).

    Returns:
        ``(folder or Hub id, config)``: ``config`` is None when the folder's (or the Hub's) ``config.json``
        applies, else the model config of the training run the checkpoint belongs to.

    Raises:
        CheckpointError: ``source`` is none of the above (the message says what to give instead).
    """
    text = str(source)
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / CONFIG_NAME).is_file():
            return str(path), None
        return str(path), _run_config(path, config_fields)
    if path.exists():
        raise CheckpointError(f"{path} is a file, not a checkpoint folder: {_what_works()}")
    if text in pretrained.available():
        return str(pretrained.path(text)), None
    if _HUB_ID.match(text) and not text.startswith((".", "~")):
        return text, None
    raise CheckpointError(f"unknown model {text!r}: no such folder (from {Path.cwd()}), not a shipped prior and not a "
                          f"Hub id; {_what_works()}")  # fmt: skip


def _run_config(folder: Path, config_fields: Collection[str]) -> dict[str, Any]:
    """The model config of the training run that wrote ``folder`` (a ``checkpoint-N/`` without config.json)."""
    run_yaml = folder.parent / "config.yaml"
    is_checkpoint = _CHECKPOINT.match(folder.name) or (folder / "step.json").is_file()
    if not is_checkpoint:
        raise CheckpointError(f"no {CONFIG_NAME} in {folder}: {_what_works()}")
    if not run_yaml.is_file():
        raise CheckpointError(f"{folder} is a training checkpoint without {CONFIG_NAME}, and its run's config.yaml "
                              f"({run_yaml}) is missing: give the run folder's final export instead (the folder "
                              f"that holds config.json and model.safetensors)")  # fmt: skip
    values = yaml.safe_load(run_yaml.read_text()) or {}
    return {k: v for k, v in values.items() if k in config_fields}


def strip_wrapper_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """Keys of a DDP-wrapped model (``module.``, Accelerate ``save_state`` of several processes) -> the model's."""
    if state and all(k.startswith("module.") for k in state):
        return {k.removeprefix("module."): v for k, v in state.items()}
    return dict(state)


def model_card(config: Mapping[str, Any], num_parameters: int, training: Mapping[str, Any] | None = None) -> str:
    """The ``README.md`` of an export: what the checkpoint is, and only what is known about how it was made.

    Args:
        config: the flat model config.
        num_parameters: parameters of the model.
        training: optional record from the training script: ``data``, ``train_images``, ``val_images``,
            ``steps``, ``batch_size``, ``minutes``, ``device``, ``overrides`` (config fields that differ from
            the defaults) and ``metrics`` (validation, name -> value).
    """
    size = config.get("image_size")
    lines = [
        "---",
        "library_name: hypersiren",
        "license: mit",
        "tags:",
        *(f"- {tag}" for tag in ("siren", "implicit-neural-representation", "hypernetwork", "inpainting")),
        "---",
        "",
        f"# HyperSiren prior, {size}x{size}",
        "",
        "A learned prior over SIRENs (Sitzmann et al. 2020, Sec. 4.4, [arXiv 2006.09661](https://arxiv.org/abs/"
        "2006.09661)): an encoder maps a partly observed image and its `observed` mask to a latent, a hypernetwork "
        "maps the latent to a SIREN, and the SIREN renders the completed image at any resolution. "
        f"Encoder `{config.get('encoder')}`, hypernetwork `{config.get('hypernet')}`, SIREN "
        f"{config.get('hidden_features')} x {config.get('hidden_layers')}, latent {config.get('latent_dim')}; "
        f"{num_parameters / 1e6:.2f} M parameters. Saved locally by `save_pretrained` (safetensors + `config.json`).",
        "",
        "```python",
        "from hypersiren import HyperSiren",
        "",
        'model = HyperSiren.from_pretrained("path/to/this/folder")',
        f"completed = model.inpaint(images, observed)  # (B, {config.get('channels')}, {size}, {size}) in [-1, 1], "
        f"observed (B, 1, {size}, {size}) bool",
        "```",
        "",
        "## Training",
        "",
    ]
    if not training:
        lines.append("No training record was given with this export.")
    else:
        t = training
        lines.append(f"- Data: `{t.get('data')}`: {t.get('train_images')} training images, {t.get('val_images')} "
                     f"validation images, at {size}x{size}.")  # fmt: skip
        lines.append(f"- {t.get('steps')} steps of batch {t.get('batch_size')} in {t.get('minutes', 0):.1f} min "
                     f"on {t.get('device')}.")  # fmt: skip
        overrides = t.get("overrides") or {}
        if overrides:
            lines.append("- Config fields that differ from the defaults (the run folder's `config.yaml` has all):")
            lines += ["", "```yaml", *(f"{k}: {v}" for k, v in overrides.items()), "```"]
        metrics = t.get("metrics") or {}
        lines += ["", "## Validation metrics", ""]
        if metrics:
            lines.append(
                "MSE on [0, 1] (the paper's: output clipped, all pixels) on the validation images, "
                "with exactly 100 / 1000 random context pixels and with a centred hole of half the side:"
            )
            lines += ["", "| metric | value |", "|---|---|", *(f"| `{k}` | {v:.4f} |" for k, v in metrics.items())]
        else:
            lines.append("None measured (the run ended before its first validation).")
    lines += ["", "## Licence", "", "Code: MIT. The weights inherit the terms of the data they were trained on"
              + (f" (`{training.get('data')}`)." if training else ".")]  # fmt: skip
    return "\n".join(lines) + "\n"
