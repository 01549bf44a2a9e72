"""Saving and strict loading of a HyperSiren (safetensors + a flat ``config.json``), and where a checkpoint comes from.

``HyperSiren.from_pretrained(source)`` takes, in this order:

1. a local folder written by ``save_pretrained`` (``config.json`` + ``model.safetensors``);
2. a ``checkpoint-N/`` folder of a training run (Accelerate ``save_state``): its ``config.json``, or for
   checkpoints written before they carried one, the model fields of the run's ``config.yaml`` beside it;
3. the name of a prior shipped in the package (:func:`hypersiren.prior.pretrained.available`), from any working
   directory;
4. a Hugging Face Hub id ``owner/name``.

Anything else raises :class:`CheckpointError` naming what would have worked, instead of huggingface_hub's
``HFValidationError`` for a relative path that does not exist here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
import yaml
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download, split_torch_state_dict_into_shards
from huggingface_hub.utils import EntryNotFoundError
from torch import nn

from hypersiren.prior import pretrained
from hypersiren.prior.model_card import model_card

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"  # the Hub's layout of a sharded checkpoint (transformers, diffusers)
MAX_SHARD_SIZE = "20MB"  # an export above it is written as model-0000k-of-0000n.safetensors + the index
CONFIG_NAME = "config.json"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, corrupt, or does not match its config."""


def _what_works() -> str:
    return (
        f"give a folder written by save_pretrained (config.json + model.safetensors), a training run's "
        f"checkpoint-N/ folder, a shipped prior ({', '.join(pretrained.available()) or 'none shipped'}) "
        f"or a Hub id owner/name"
    )


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
    raise CheckpointError(
        f"unknown model {text!r}: no such folder (from {Path.cwd()}), not a shipped prior and not a "
        f"Hub id; {_what_works()}"
    )


def _run_config(folder: Path, config_fields: Collection[str]) -> dict[str, Any]:
    """The model config of the training run that wrote ``folder`` (a ``checkpoint-N/`` without config.json)."""
    run_yaml = folder.parent / "config.yaml"
    is_checkpoint = _CHECKPOINT.match(folder.name) or (folder / "step.json").is_file()
    if not is_checkpoint:
        raise CheckpointError(f"no {CONFIG_NAME} in {folder}: {_what_works()}")
    if not run_yaml.is_file():
        raise CheckpointError(
            f"{folder} is a training checkpoint without {CONFIG_NAME}, and its run's config.yaml "
            f"({run_yaml}) is missing: give the run folder's final export instead (the folder "
            f"that holds config.json and model.safetensors)"
        )
    values = yaml.safe_load(run_yaml.read_text()) or {}
    return {k: v for k, v in values.items() if k in config_fields}


def strip_wrapper_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """Keys of a DDP-wrapped model (``module.``, Accelerate ``save_state`` of several processes) -> the model's."""
    if state and all(k.startswith("module.") for k in state):
        return {k.removeprefix("module."): v for k, v in state.items()}
    return dict(state)


class HubCheckpoints(PyTorchModelHubMixin):
    """``save_pretrained`` / ``from_pretrained`` for an ``nn.Module`` whose ``config`` is a flat dataclass.

    huggingface_hub's mixin with the house's rules: ``model.safetensors`` (no pickle; above :data:`MAX_SHARD_SIZE`
    shards and their index in the Hub's layout), each file written to a temporary file and renamed, the flat
    ``config.json``, strict loading with the reason in a :class:`CheckpointError`, the sources of :func:`resolve`,
    and a model card that states only what is known. A subclass sets
    :attr:`config_class` and takes ``config`` as its constructor's argument.
    """

    config_class: type

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> Any:
        """Load a checkpoint, in eval mode, strictly.

        Args:
            pretrained_model_name_or_path: a shipped prior's name (``"celeba32"``, see
                :func:`hypersiren.prior.pretrained.available`; from any working directory), a folder written by
                ``save_pretrained``, a training run's ``checkpoint-N/`` folder, or a Hub id ``owner/name``.
            **kwargs: huggingface_hub's (``revision``, ``cache_dir``, ``local_files_only``, ...).

        Raises:
            CheckpointError: none of those, or a missing, corrupt or mismatched checkpoint.
        """
        fields = [f.name for f in dataclasses.fields(cls.config_class)]
        source, run_config = resolve(pretrained_model_name_or_path, fields)
        if run_config is not None:
            kwargs.setdefault("config", run_config)
        return super().from_pretrained(source, **kwargs)

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """The export's ``README.md``: the architecture, and the training record passed as ``training=``.

        huggingface_hub's default card says the model "has been pushed to the Hub" and leaves fields as "More
        Information Needed"; a local export states only what is known.
        """
        num_parameters = sum(p.numel() for p in self.parameters())
        return ModelCard(model_card(dataclasses.asdict(self.config), num_parameters, kwargs.get("training")))

    def _save_pretrained(self, save_directory: Path) -> None:
        save_directory = Path(save_directory)
        state = self.state_dict()
        split = split_torch_state_dict_into_shards(
            state, filename_pattern="model{suffix}.safetensors", max_shard_size=MAX_SHARD_SIZE
        )
        for filename, keys in split.filename_to_tensors.items():
            _replace(
                save_directory / filename,
                lambda tmp, keys=keys: safetensors.torch.save_file(
                    {k: state[k].contiguous() for k in keys}, str(tmp), metadata={"format": "pt"}
                ),
            )
        index = {"metadata": split.metadata, "weight_map": split.tensor_to_filename}
        if split.is_sharded:  # the index last: whoever reads it finds every shard complete
            _replace(save_directory / INDEX_NAME, lambda tmp: tmp.write_text(json.dumps(index, indent=2) + "\n"))
        stale = {INDEX_NAME} if not split.is_sharded else set()
        stale |= {p.name for p in save_directory.glob("model*.safetensors")} - set(split.filename_to_tensors)
        for name in stale:  # an earlier export's other layout
            (save_directory / name).unlink(missing_ok=True)
        (save_directory / CONFIG_NAME).write_text(json.dumps(dataclasses.asdict(self.config), indent=2) + "\n")

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs: Any,
    ) -> Any:
        if "config" not in model_kwargs:
            raise CheckpointError(f"no {CONFIG_NAME} found for {model_id!r}")
        model = cls(**model_kwargs)
        if os.path.isdir(model_id):
            index = os.path.join(model_id, INDEX_NAME)
            model_file = index if os.path.isfile(index) else os.path.join(model_id, WEIGHTS_NAME)
        else:
            hub = dict(
                repo_id=model_id,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
            try:
                model_file = hf_hub_download(filename=WEIGHTS_NAME, **hub)
            except EntryNotFoundError:  # a sharded export: the index, then each shard into the same snapshot
                model_file = hf_hub_download(filename=INDEX_NAME, **hub)
                for shard in sorted(set(_weight_map(Path(model_file)).values())):
                    hf_hub_download(filename=shard, **hub)
        load_weights(model, model_file, strict=strict)
        return model.to(map_location).eval()


def _replace(path: Path, write) -> None:
    """``write(tmp)`` a file beside ``path``, then rename it there: never a half-written ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _weight_map(index: Path) -> dict[str, str]:
    """The tensor -> shard file map of a ``model.safetensors.index.json``."""
    try:
        return dict(json.loads(index.read_text())["weight_map"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"cannot read {index}: not a safetensors index ({err})") from None


def _read_safetensors(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"no weights file {path}")
    try:
        return safetensors.torch.load_file(str(path))
    except Exception as err:  # safetensors raises SafetensorError / OSError for truncated or corrupt files
        raise CheckpointError(f"cannot read {path}: corrupt or truncated safetensors file ({err})") from None


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load ``model.safetensors``, or every shard named by a ``model.safetensors.index.json``, into ``model``,
    raising :class:`CheckpointError` with the reason."""
    path = Path(path)
    if path.name.endswith(".index.json"):
        weight_map = _weight_map(path)
        state = {}
        for shard in sorted(set(weight_map.values())):
            state.update(_read_safetensors(path.parent / shard))
        if set(state) != set(weight_map):
            raise CheckpointError(f"{path}: the shards do not hold the tensors the index names")
    else:
        state = _read_safetensors(path)
    state = strip_wrapper_prefix(state)  # a checkpoint-N/ of a several-process run holds DDP's `module.` keys
    retired = tuple(getattr(model, "retired_prefixes", ()))  # parts of an older version the model said it drops
    state = {k: v for k, v in state.items() if not (retired and k.startswith(retired))}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{path} does not match the model config: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}"
        )
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if wrong:
        raise CheckpointError(f"{path} has tensors of the wrong shape for this config: {wrong[:5]}")
    model.load_state_dict(state, strict=strict)
