"""Dataclass <-> YAML <-> command line, with types enforced and unknown keys rejected: the one config path.

Every script (``train/celeba.py``, ``eval/inpaint.py``, ``eval/fit.py``) is configured by one dataclass whose
field is also the YAML key, the ``--key=value`` (or ``--key value``) flag and the constructor argument;
:func:`parse_args` reads its command line and :func:`format_help` lists every field with its default and the
comment beside it. A bool field is set by a bare ``--key`` and unset by ``--no_key``. PyYAML reads ``1e-4``
as a string, so every value is coerced to its field's declared type. Each config checks its own values in
a ``validate()`` method.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file, key or value that cannot be used."""


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(name, value, arg)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{name}': cannot read {value!r} as {annotation}")
    if origin in (list, tuple):
        items = value
        if isinstance(value, str):
            items = [v for v in value.strip("[]()").split(",") if v.strip()]
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"config key '{name}': expected a list, got {value!r}")
        inner = args[0] if args else str
        out = [_coerce(name, v.strip() if isinstance(v, str) else v, inner) for v in items]
        return out if origin is list else tuple(out)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"config key '{name}': expected true/false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"config key '{name}': expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{name}': expected a number, got {value!r}") from None
        if annotation is int:
            if number != int(number):
                raise ConfigError(f"config key '{name}': expected an integer, got {value!r}")
            return int(number)
        return number
    if annotation is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"config key '{name}': expected a string, got {value!r}")
        return str(value)
    return value


def from_dict(cls: type[T], values: dict[str, Any], base: T | None = None) -> T:
    """Build ``cls`` from ``values`` on top of ``base`` (or the defaults), coercing types.

    Raises:
        ConfigError: on an unknown key (the known ones are listed) or a value of the wrong type.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown} for {cls.__name__}; known keys: {', '.join(names)}")
    coerced = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    if base is None:
        return cls(**coerced)
    return dataclasses.replace(base, **coerced)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return data


def parse_overrides(argv: Sequence[str]) -> dict[str, str | list[str]]:
    """Command-line words -> raw values by key, one spelling for every script.

    ``--key=value`` and ``--key value`` give a string; ``--key v1 v2`` a list (a list field also takes
    ``--key=v1,v2``); a bare ``--key`` gives ``"true"``. Dashes in a key read as underscores.

    Example: ``["--lr=1e-3", "--arch", "siren", "relu", "--bf16"]`` ->
    ``{"lr": "1e-3", "arch": ["siren", "relu"], "bf16": "true"}``.
    """
    out: dict[str, str | list[str]] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"expected --key=value, got {arg!r}")
        key, sep, value = arg[2:].partition("=")
        values = [value] if sep else []
        while not sep and i + 1 < len(args) and not args[i + 1].startswith("--"):
            i += 1
            values.append(args[i])
        out[key.replace("-", "_")] = "true" if not values else values[0] if len(values) == 1 else values
        i += 1
    return out


def parse_args(
    cls: type[T],
    argv: Sequence[str],
    *,
    positional: str | None = None,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
) -> T:
    """A script's command line -> ``cls``: ``[WORD] [--config FILE] [--key=value ...]``, types coerced.

    Precedence: the dataclass defaults < ``presets[WORD]`` < the ``--config`` YAML file < the flags. ``WORD``
    (only with ``positional``) sets that field, e.g. the fitting script's mode; ``--no_KEY`` sets a bool
    field ``KEY`` to false (``--KEY=false`` works too).

    Raises:
        ConfigError: an unknown key (the known ones are listed), a value of the wrong type, a bad file.
    """
    args = list(argv)
    word = {positional: args.pop(0)} if positional and args and not args[0].startswith("-") else {}
    flags = parse_overrides(args)
    hints = typing.get_type_hints(cls)
    bools = {f.name for f in dataclasses.fields(cls) if hints[f.name] in (bool, bool | None)}
    for key in [k for k in flags if k.startswith("no_") and k[3:] in bools and k not in bools]:
        if flags.pop(key) != "true":
            raise ConfigError(f"--{key} takes no value (it sets {key[3:]} to false)")
        flags[key[3:]] = "false"
    file_values = load_yaml(flags.pop("config")) if "config" in flags else {}
    if isinstance(file_values.get("config"), str):
        raise ConfigError("a config file cannot name another config file")
    chosen = {**file_values, **word, **flags}
    preset = {}
    if positional and presets is not None:
        name = str(chosen.get(positional, getattr(cls, positional, None)))
        if name not in presets:
            raise ConfigError(f"unknown {positional} {name!r}: choose from {', '.join(presets)}")
        if positional in file_values and word and str(file_values[positional]) != word[positional]:
            raise ConfigError(f"the config file is for {positional} {file_values[positional]!r}, not {name!r}")
        preset = dict(presets[name])
    return from_dict(cls, {**preset, **chosen})


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]


def changed(cfg: Any) -> dict[str, Any]:
    """The fields of a dataclass instance that differ from their defaults (what a config file and flags set)."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != _default(f)}


def to_yaml(cfg: Any) -> str:
    """A dataclass as YAML text (every field, for the run folder)."""
    return yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)


_FIELD = re.compile(r"^ {4}(\w+)\s*:[^=#]*=[^#]*(?:#\s*(.*))?$")  # `    name: type = default  # help`
_SECTION = re.compile(r"^ {4}#\s*(.+)$")  # `    # data` above a group of fields


def field_help(cls: type) -> dict[str, tuple[str, str]]:
    """The comment beside each field in the dataclass bodies of ``cls`` and its bases, and its section.

    Returns:
        name -> (section, help): the section is the comment line above the field's group, else the class name.
    """
    out: dict[str, tuple[str, str]] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):  # no source (frozen app, interactive definition): no help text
            continue
        section = klass.__name__
        for line in source.splitlines():
            if m := _SECTION.match(line):
                section = m.group(1)
            elif m := _FIELD.match(line):
                out[m.group(1)] = (section, (m.group(2) or "").strip())
    return out


def format_help(cls: type, usage: str, description: str, presets: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Help text listing every field of ``cls`` as ``--name=default``, with the comment beside it in the source.

    Args:
        presets: defaults that replace the dataclass's for a positional word (listed after the fields).
    """
    helps = field_help(cls)
    lines = [
        f"usage: {usage}",
        "",
        description,
        "",
        "Every field is a YAML key of --config FILE and a --key=value flag (flags win over the file); a bool",
        "field is set by a bare --key and unset by --no_key. Unknown keys are rejected.",
    ]
    section = None
    for f in dataclasses.fields(cls):
        where, text = helps.get(f.name, (cls.__name__, ""))
        if where != section:
            section = where
            lines += ["", f"{section}:"]
        default = _default(f)
        if isinstance(default, list):
            default = ",".join(map(str, default))
        flag = f"  --{f.name}={default}"
        lines.append(f"{flag:<34} {text}".rstrip() if len(flag) < 34 else f"{flag}\n{'':<34} {text}".rstrip())
    for name, values in (presets or {}).items():
        if name == next(iter(presets)):
            lines += ["", "defaults that differ by the first word:"]
        shown = " ".join(f"--{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in values.items())
        lines.append(f"  {name:<8} {shown}")
    return "\n".join(lines)
