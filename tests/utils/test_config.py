"""One config path for every script: command-line spellings, precedence, coercion, help, the runner, extras."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hypersiren.app import scripts
from hypersiren.utils import MissingExtraError, config, require
from hypersiren.utils.config import ConfigError, parse_args, parse_overrides


@dataclass
class Toy:
    """A config like the scripts' ones."""

    # what
    mode: str = "a"  # the first word
    steps: int = 10  # optimiser steps
    lr: float = 1e-3  # learning rate
    names: list[str] = field(default_factory=lambda: ["x"])  # one or more names
    # switches
    progress: bool = True  # progress bars
    path: str | None = None  # an optional file

    def validate(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"--steps must be at least 1, got {self.steps}")


PRESETS = {"a": {"steps": 20}, "b": {"steps": 30, "names": ["y", "z"]}}


def test_every_spelling_of_a_flag():
    assert parse_overrides(["--lr=1e-3", "--steps", "8", "--names", "p", "q", "--progress", "--dash-key=1"]) == {
        "lr": "1e-3",
        "steps": "8",
        "names": ["p", "q"],
        "progress": "true",
        "dash_key": "1",
    }
    with pytest.raises(ConfigError, match="expected --key=value, got 'loose'"):
        parse_overrides(["--lr=1", "loose"])
    cfg = parse_args(Toy, ["--steps", "3", "--names=p,q", "--no_progress", "--path", "none"])
    assert (cfg.steps, cfg.names, cfg.progress, cfg.path) == (3, ["p", "q"], False, None)
    assert parse_args(Toy, ["--progress=false"]).progress is False
    assert parse_args(Toy, ["--no-progress"]).progress is False, "dashes read as underscores"
    with pytest.raises(ConfigError, match="--no_progress takes no value"):
        parse_args(Toy, ["--no_progress=1"])


def test_precedence_defaults_preset_file_flags(tmp_path):
    assert parse_args(Toy, ["b"], positional="mode", presets=PRESETS).steps == 30, "the word's preset"
    yaml = tmp_path / "c.yaml"
    yaml.write_text("mode: b\nlr: 1e-4\nsteps: 40\n")  # PyYAML reads 1e-4 as a string: coerced
    cfg = parse_args(Toy, ["--config", str(yaml)], positional="mode", presets=PRESETS)
    assert (cfg.mode, cfg.steps, cfg.lr, cfg.names) == ("b", 40, 1e-4, ["y", "z"]), "file over preset"
    cfg = parse_args(Toy, ["b", "--config", str(yaml), "--steps", "5"], positional="mode", presets=PRESETS)
    assert cfg.steps == 5 and cfg.lr == 1e-4, "flags over the file"
    with pytest.raises(ConfigError, match="config file is for mode 'b', not 'a'"):
        parse_args(Toy, ["a", "--config", str(yaml)], positional="mode", presets=PRESETS)
    with pytest.raises(ConfigError, match="unknown mode 'c': choose from a, b"):
        parse_args(Toy, ["c"], positional="mode", presets=PRESETS)


def test_bad_keys_and_values_are_named():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['stepz'\].*known keys: mode, steps"):
        parse_args(Toy, ["--stepz=3"])
    with pytest.raises(ConfigError, match="config key 'steps': expected an integer"):
        parse_args(Toy, ["--steps=2.5"])
    with pytest.raises(ConfigError, match="config key 'lr': expected a number"):
        parse_args(Toy, ["--lr", "fast"])
    with pytest.raises(ConfigError, match="config file not found"):
        parse_args(Toy, ["--config", "nowhere.yaml"])


def test_help_lists_every_field_default_comment_section_and_preset():
    text = config.format_help(Toy, "toy [--key=value]", "A toy.", PRESETS)
    for line in (
        "--steps=10",
        "optimiser steps",
        "--names=x",
        "--progress=True",
        "switches:",
        "--no_key",
        "b        --steps=30 --names=y,z",
    ):
        assert line in text, (line, text)
    assert config.changed(Toy(steps=3)) == {"steps": 3}


def test_the_scripts_runner(capsys):
    def main(cfg: Toy) -> dict:
        cfg.validate()
        if cfg.path == "interrupt":
            raise KeyboardInterrupt
        print(f"ran {cfg.steps} steps")
        return {}

    def run(*argv: str) -> int:
        return scripts.run(
            main, Toy, "Toy script.\n\nMore.", "toy", argv=argv, on_interrupt=lambda cfg: f"stopped at {cfg.steps}"
        )

    assert run("--steps", "4") == 0 and capsys.readouterr().out.strip() == "ran 4 steps"
    assert run("--help") == 0 and "usage: toy" in capsys.readouterr().out
    assert run("--steps", "0") == 2
    assert capsys.readouterr().err.strip() == "error: --steps must be at least 1, got 0", "one line, no traceback"
    assert run("--stepz", "1") == 2 and "stepz" in capsys.readouterr().err
    assert run("--path", "interrupt", "--steps", "7") == 130 and capsys.readouterr().err.strip() == "stopped at 7"


def test_a_missing_extra_names_it():
    assert require("json", "fit").dumps([1]) == "[1]"
    with pytest.raises(MissingExtraError, match=r'no_such_package_xyz is not installed.*"hypersiren\[eval\]"'):
        require("no_such_package_xyz.sub", "eval")
