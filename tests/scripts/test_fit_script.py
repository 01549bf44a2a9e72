"""eval/fit.py end to end on tiny inputs: every mode in-process, one subprocess run, the bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import checkout_env, load_script, write_mp4, write_wav
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "eval" / "fit.py"
TINY = ["--hidden_features", "16", "--hidden_layers", "1", "--no_progress"]


@pytest.fixture(scope="module")
def script():
    return load_script("eval/fit.py")


@pytest.fixture
def files(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    (tmp_path / "junk.png").write_text("not an image")
    (tmp_path / "junk.wav").write_text("not a wav")
    Image.fromarray(np.zeros((8, 8, 2), np.uint8), mode="LA").save(tmp_path / "la.png")
    return {
        "rgb": tmp_path / "rgb.png",
        "wav": write_wav(tmp_path / "a.wav", seconds=0.05),
        "mp4": write_mp4(tmp_path / "v.mp4"),
        "junk": tmp_path / "junk.png",
        "junk_wav": tmp_path / "junk.wav",
        "la": tmp_path / "la.png",
    }


@pytest.mark.parametrize(
    "mode, args, outputs",
    [
        ("image", ["--size", "16", "--arch", "siren", "relu", "tanh", "relu_pe"], ["siren.png", "relu_pe.png"]),
        ("image-rgb", ["--size", "12", "--arch", "siren"], ["siren.png"]),
        ("audio", ["--seconds", "0.03", "--arch", "siren", "relu"], ["siren.wav", "relu.wav"]),
        ("video", ["--frames", "2", "--size", "8x12", "--batch_size", "64"], ["siren.npy", "relu.npy"]),
        ("poisson", ["--size", "12", "--supervise", "gradient"], ["siren.png"]),
        ("poisson", ["--size", "12", "--supervise", "laplacian", "--arch", "siren", "tanh"], ["tanh.png"]),
        ("poisson", ["--size", "12", "--derivatives", "forward", "--bf16", "--lr_schedule", "cosine"], ["siren.png"]),
        ("poisson", ["--size", "12", "--supervise", "laplacian", "--laplacian_loss", "ritz"], ["siren.png"]),
    ],
)
def test_every_mode_in_process(script, files, tmp_path, mode, args, outputs):
    out = tmp_path / "run"
    inputs = {
        "image": [],
        "image-rgb": ["--image", str(files["rgb"])],
        "audio": ["--audio", str(files["wav"])],
        "video": ["--video", str(files["mp4"])],
        "poisson": [],
    }[mode]
    argv = [mode.split("-")[0], *inputs, *args, "--steps", "3", "--out", str(out), *TINY]
    metrics = script.main(script.parse_args(argv))
    on_disk = json.loads((out / "metrics.json").read_text())
    assert set(on_disk) == set(metrics) and all(np.isfinite(m["psnr"]) for m in on_disk.values())
    for m in on_disk.values():
        assert {"psnr", "mse", "seconds_per_step", "history"} <= set(m), m.keys()
        seconds = m["history"]["seconds"]
        assert len(seconds) == len(m["history"]["step"]) and seconds[0] == 0 and seconds == sorted(seconds)
    for name in [*outputs, "figure.png", "config.yaml"]:
        assert (out / name).is_file(), f"{mode}: {name} missing"
    if mode == "video":
        assert "psnr_std" in metrics["siren"] and len(metrics["siren"]["psnr_per_frame"]) == 2


@pytest.mark.slow
def test_subprocess_summary_last(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, str(SCRIPT), "image", "--size", "8", "--steps", "2", "--arch", "siren", "--out", str(out)]
    proc = subprocess.run([*cmd, *TINY], capture_output=True, text=True, cwd=ROOT, timeout=120, env=checkout_env())
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("fit image camera, 2 steps: siren") and "dB" in last, last


def test_config_file_and_flag_precedence(script, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mode: image\nsize: 10\nsteps: 7\nlr: 1e-4\narch: [siren, relu]\n")
    parsed = script.parse_args(["image", "--config", str(cfg), "--steps", "2"])
    assert (parsed.size, parsed.steps, parsed.lr, parsed.arch) == ("10", 2, 1e-4, ["siren", "relu"])
    for paper in sorted((ROOT / "configs").glob("fit-*.yaml")):
        mode = paper.stem.split("-")[1]
        assert script.parse_args([mode, "--config", str(paper)]).steps >= 1000, paper


@pytest.mark.parametrize(
    "argv, message",
    [
        (["image", "--image", "{tmp}/missing.png"], "file not found"),
        (["image", "--image", "{junk}"], "not a readable image"),
        (["image", "--image", "{la}"], "unsupported channel count 2"),
        (["audio", "--audio", "{junk_wav}"], "not a readable WAV"),
        (["video", "--video", "{junk}"], "not a readable video"),
        (["image", "--steps", "0"], "--steps must be at least 1"),
        (["poisson", "--lr_schedule", "cosine", "--lr_final", "-1"], "--lr_final must be positive"),
        (["image", "--arch", "siren", "gelu"], "unknown --arch gelu"),
        (["poisson", "--supervise", "laplacian", "--laplacian_loss", "energy"], "--laplacian_loss 'energy'"),
        (["poisson", "--laplacian_loss", "ritz"], "--laplacian_loss ritz needs the poisson mode with --supervise"),
        (["audio"], "needs --audio"),
        (["image", "--config", "{tmp}/nope.yaml"], "config file not found"),
    ],
)
def test_bad_inputs_give_one_clear_error(script, files, tmp_path, capsys, argv, message):
    names = {k: str(v) for k, v in files.items()} | {"tmp": str(tmp_path)}
    argv = [a.format(**names) for a in argv] + ["--out", str(tmp_path / "run"), *TINY]
    assert script.cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err


@pytest.mark.slow
def test_bad_input_subprocess_exit_code(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "audio", "--audio", str(tmp_path / "none.wav"), "--no_progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=checkout_env(),
    )
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: file not found: {tmp_path / 'none.wav'}"
