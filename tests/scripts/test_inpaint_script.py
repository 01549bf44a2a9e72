"""eval/inpaint.py end to end on a tiny saved model and tiny synthetic data (CPU, no network)."""

from __future__ import annotations

import csv
import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import checkout_env, load_script, save_random_alexnet
from PIL import Image

from hypersiren.app import sources
from hypersiren.masks import KINDS
from hypersiren.metrics import perceptual
from hypersiren.prior import CheckpointError, HyperSiren, HyperSirenConfig, pretrained

SCRIPT = Path(__file__).resolve().parents[2] / "eval" / "inpaint.py"
N_IMAGES = 5


inpaint = load_script("eval/inpaint.py")


def evaluate(argv: list[str]) -> dict:
    """The script's main on its command line, in this process."""
    return inpaint.main(inpaint.parse_args(argv))


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("inpaint")
    torch.manual_seed(0)
    HyperSiren(HyperSirenConfig.tiny(image_size=32)).save_pretrained(root / "model")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    images = np.stack([np.stack([yy, xx, (yy + xx) / 2], -1) * rng.uniform(0.3, 1.0) for _ in range(N_IMAGES)])
    np.savez(root / "test.npz", images=(images * 255).astype(np.uint8), ids=np.arange(N_IMAGES))
    hole = np.zeros((64, 64), np.uint8)
    hole[20:40, 10:50] = 255  # white = missing
    Image.fromarray(hole).save(root / "hole.png")
    (root / "empty_model").mkdir()
    (root / "empty_model" / "config.json").write_text(json.dumps({"image_size": 32}))
    return root


def run(assets, tmp_path, *extra: str) -> dict:
    args = [
        "--model",
        str(assets / "model"),
        "--data",
        str(assets / "test.npz"),
        "--out",
        str(tmp_path / "out"),
        "--batch_size",
        "2",
        "--no_lpips",
        *extra,
    ]
    return evaluate(args)


@pytest.mark.parametrize("kind", KINDS)
def test_every_mask_end_to_end(assets, tmp_path, capsys, kind):
    extra = ["--mask", kind] + (["--mask_path", str(assets / "hole.png")] if kind == "file" else [])
    results = run(assets, tmp_path, *extra)
    key = {"random": "random_100", "bernoulli": "bernoulli_100"}.get(kind, kind)
    out = tmp_path / "out"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(results)), "main returns what metrics.json holds"
    r = saved[key]
    assert r["images"] == N_IMAGES and 0 < r["mse"] < 1 and r["lpips"] is None, r
    assert (r["mse_missing"] is None) == (kind == "full"), "nothing is missing only under 'full'"
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert len(rows) == N_IMAGES and {"mse", "psnr_missing", "ssim", "lpips"} <= set(rows[0])
    assert (out / f"grid_{key}.png").stat().st_size > 1000
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("data: ") and "test.npz, 5 images" in printed[0], "the data is named"
    assert printed[-1].startswith("inpainted ") and "metrics.json" in printed[-1], "last line: the summary"


def test_paper_protocol_keys_and_reference(assets, tmp_path, capsys):
    results = run(assets, tmp_path, "--protocol", "paper")
    for key in ("10", "100", "1000", "half", "full"):
        assert isinstance(results[key]["mse"], float), key
    assert results["10"]["paper"]["SIREN CNN+HN"] == 0.033 and results["half"]["mask"] == "half"
    assert 900 < results["1000"]["mean_observed"] < 1100, "Bernoulli p = 1000/1024"
    table = capsys.readouterr().out
    assert "0.033" in table and "0.039" in table and "SIREN CNN+HN" in table
    exact = run(assets, tmp_path, "--protocol", "paper", "--context_sampling", "exact")
    assert exact["100"]["mean_observed"] == 100 and exact["100"]["mask"] == "random"


def test_seeded_and_refined_and_rendered(assets, tmp_path):
    a = run(assets, tmp_path, "--mask", "random", "--refine_steps", "3", "--render_size", "48")
    b = run(
        assets,
        tmp_path,
        "--mask",
        "random",
        "--refine_steps",
        "3",
        "--render_size",
        "48",
        "--batch_size",
        "5",
        "--decode_chunk",
        "1",
    )
    assert a["random_100"]["mse"] == pytest.approx(b["random_100"]["mse"], rel=1e-5), (
        "masks and results independent of batching"
    )
    assert a["random_100"]["refined"]["mse"] is not None
    assert "refined_mse" in open(tmp_path / "out" / "per_image.csv").readline()


def test_lpips_from_env_weights(assets, tmp_path, monkeypatch):
    torch.manual_seed(0)
    save_random_alexnet(tmp_path / "alex.npz")
    monkeypatch.setenv(perceptual.LPIPS_WEIGHTS_ENV, str(tmp_path / "alex.npz"))
    args = ["--model", str(assets / "model"), "--data", str(assets / "test.npz"), "--out", str(tmp_path / "o")]
    results = evaluate(args)
    assert results["center"]["lpips"] is not None and results["center"]["lpips"] > 0
    monkeypatch.setenv(perceptual.LPIPS_WEIGHTS_ENV, str(tmp_path / "missing.npz"))
    results = evaluate(args)
    assert results["center"]["lpips"] is None and results["meta"]["lpips"] == "unavailable", "LPIPS never fails a run"


def test_offline_default_data_falls_back_to_demo_images(assets, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sources, "hub_reachable", lambda timeout=3.0: False)
    results = inpaint.main(
        inpaint.parse_args(["--model", str(assets / "model"), "--out", str(tmp_path / "o"), "--no_lpips"])
    )
    assert "bundled demo images" in results["meta"]["data"] and results["center"]["images"] == 6
    assert "bundled demo images" in capsys.readouterr().out


def test_default_model_is_the_shipped_one(monkeypatch, tmp_path):
    model, name = sources.load_model()
    assert name == pretrained.DEFAULT and not model.training
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="model folder not found"):
        evaluate(["--out", str(tmp_path / "o")])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mask", "file", "--mask_path", "BAD"], "cannot read mask file"),
        (["--mask", "blob"], "unknown mask kind 'blob'"),
        (["--mask", "random", "--num_context", "5000"], r"num_context must lie in [0, 1024]"),
        (["--model", "EMPTY"], "no weights file"),
        (["--data", "NOWHERE/x.npz"], "does not exist"),
        (["--model", "NOWHERE/model"], "model folder not found"),
    ],
)
def test_bad_inputs_exit_2_without_traceback(assets, tmp_path, monkeypatch, capsys, extra, message):
    (tmp_path / "bad.png").write_text("not an image")
    subst = {"BAD": str(tmp_path / "bad.png"), "EMPTY": str(assets / "empty_model"), "NOWHERE": str(tmp_path / "no")}
    extra = [subst.get(a, a.replace("NOWHERE", subst["NOWHERE"])) for a in extra]
    argv = [
        "inpaint.py",
        "--model",
        str(assets / "model"),
        "--data",
        str(assets / "test.npz"),
        "--no_lpips",
        "--out",
        str(tmp_path / "o"),
        *extra,
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: " in err and message in err and "Traceback" not in err, err


@pytest.mark.slow
def test_subprocess_error(assets):
    env = checkout_env(HF_HUB_OFFLINE="1")
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(assets / "empty_model"), "--no_lpips"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr, bad.stderr


def test_help_lists_every_field(capsys):
    assert inpaint.cli(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert "--mask=None" in help_text and "--lpips=True" in help_text and "--no_key" in help_text
    for flag in (
        "--model",
        "--data",
        "--mask",
        "--num_context",
        "--limit",
        "--batch_size",
        "--seed",
        "--out",
        "--render_size",
        "--protocol",
        "--refine_steps",
        "--refine_lr",
        "--refine_weights",
        "--lpips_weights",
    ):
        assert flag in help_text, flag


def _photo(tmp_path, width: int = 96, height: int = 64) -> tuple[Path, Path, torch.Tensor]:
    """A non-square picture, a mask file with a rectangle, and where that rectangle lands on the 32x32 grid."""
    yy, xx = np.mgrid[0:height, 0:width]
    photo = np.stack([yy * 255 // height, xx * 255 // width, (yy + xx) * 255 // (height + width)], -1)
    Image.fromarray(photo.astype(np.uint8)).save(tmp_path / "photo.png")
    left, top = (width - 64) // 2, (height - 64) // 2  # the centred 64x64 square, 2x the grid
    mask = np.zeros((height, width), np.uint8)
    mask[top + 8 : top + 24, left + 32 : left + 48] = 255  # white = missing
    Image.fromarray(mask).save(tmp_path / "hole.png")
    hole = torch.zeros(32, 32, dtype=torch.bool)
    hole[4:12, 16:24] = True
    return tmp_path / "photo.png", tmp_path / "hole.png", hole


def test_one_picture_with_a_mask_file(assets, tmp_path, capsys):
    photo, mask, hole = _photo(tmp_path)
    out = tmp_path / "out"
    results = evaluate(
        [
            "--model",
            str(assets / "model"),
            "--image",
            str(photo),
            "--mask_path",
            str(mask),
            "--render_size",
            "64",
            "--out",
            str(out),
            "--no_lpips",
        ]
    )
    r = results["image"]
    assert r["mask"] == "file" and r["num_missing"] == 64 and r["crop_box"] == [16, 0, 80, 64], r
    assert r["psnr_missing"] is not None and r["mask_outside_crop"] == 0 and r["picture_missing"] == 256
    assert r["frame"]["kind"] == "centre" and r["picture_psnr_missing"] is not None
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(results))
    source = Image.open(photo).crop((16, 0, 80, 64)).resize((32, 32), Image.BILINEAR)
    x = np.asarray(source).astype(int)  # (32, 32, 3): the picture as the model saw it
    completed = np.asarray(Image.open(out / "photo_completed32.png")).astype(int)
    observed = np.asarray(Image.open(out / "photo_observed32.png")).astype(int)
    assert completed.shape == (32, 32, 3) and np.asarray(Image.open(out / "photo_rendered64.png")).shape == (64, 64, 3)
    changed = torch.from_numpy((completed != x).any(-1))
    assert not changed[~hole].any(), "a pixel outside the mask's hole changed"
    assert changed[hole].float().mean() > 0.9, "the hole was not completed"
    shown_hole = torch.from_numpy((observed == [115, 140, 191]).all(-1)).bool()
    assert torch.equal(shown_hole, hole), "the observed picture shows the hole where the mask says"
    # the picture at its own size: the mask's rectangle completed, every pixel beyond the blend band as it was
    picture, full = np.asarray(Image.open(photo)), np.asarray(Image.open(out / "photo_completed.png"))
    assert full.shape == (64, 96, 3)
    moved = (full != picture).any(-1)
    assert moved[8:24, 48:64].all() and not moved[_beyond((48, 8, 64, 24), 96, 64)].any()
    printed = capsys.readouterr().out.strip().splitlines()
    assert any("centre-cropped" in line and "96x64" in line for line in printed), printed
    last = printed[-1]
    assert last.startswith("completed photo.png (96x64, 256 missing pixels; the model's 32x32 square: 64, file)")
    assert "photo_completed.png (96x64)" in last and "photo_completed32.png" in last, last
    # a preset hole on the same picture, and the default rendering size (8x the model's side)
    results = evaluate(
        ["--model", str(assets / "model"), "--image", str(photo), "--mask", "center", "--out", str(out), "--no_lpips"]
    )
    assert results["image"]["num_missing"] == 256 and (out / "photo_rendered256.png").is_file()
    assert results["image"]["picture_missing"] == 1024, "the centre 16x16 of the grid: 32x32 of the picture"


def _beyond(box, width: int, height: int, band: int = 3) -> np.ndarray:
    """``(H, W)`` bool: the pixels farther than ``band`` from the box ``(left, top, right, bottom)``."""
    left, top, right, bottom = box
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx < left - band) | (xx >= right + band) | (yy < top - band) | (yy >= bottom + band)


def test_a_600x400_photo_comes_back_600x400(assets, tmp_path, capsys):
    """The issue's target: bit-identical beyond the blend band; a hole near an edge lands where it was drawn."""
    photo = np.random.default_rng(0).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "wide.png")
    mask = np.zeros((400, 600), np.uint8)
    mask[300:364, 8:40] = 255  # near the left edge, outside the centred square: the 128x128 square around it
    Image.fromarray(mask).save(tmp_path / "edge.png")
    out = tmp_path / "out"
    argv = [
        "--model",
        str(assets / "model"),
        "--image",
        str(tmp_path / "wide.png"),
        "--mask_path",
        str(tmp_path / "edge.png"),
        "--out",
        str(out),
        "--no_lpips",
    ]
    results = evaluate([*argv, "--render_size", "64"])
    r = results["image"]
    assert r["frame"]["kind"] == "hole" and r["crop_box"] == [0, 268, 128, 396] and r["num_missing"] == 128, r
    full = np.asarray(Image.open(out / "wide_completed.png"))
    assert full.shape == (400, 600, 3)
    moved = (full != photo).any(-1)
    assert moved[300:364, 8:40].all() and not moved[_beyond((8, 300, 40, 364), 600, 400)].any()
    observed = np.asarray(Image.open(out / "wide_observed32.png")).astype(int)
    expected = np.zeros((32, 32), bool)
    expected[8:24, 2:10] = True  # 4 pixels a model pixel: rows (300 - 268) / 4 .., columns 8 / 4 ..
    assert np.array_equal((observed == [115, 140, 191]).all(-1), expected), "the hole lands where it was drawn"
    printed = capsys.readouterr().out
    assert "square around the hole" in printed and "(600x400)" in printed.strip().splitlines()[-1]
    evaluate([*argv, "--blend_band", "0"])
    full = np.asarray(Image.open(out / "wide_completed.png"))
    assert np.array_equal(full[mask == 0], photo[mask == 0]), "--blend_band 0: only the marked pixels change"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image", "NOWHERE.png"], "cannot read picture"),
        (["--image", "PHOTO", "--mask_path", "FAINT"], "hole is empty"),
        (["--image", "PHOTO", "--protocol", "paper"], "--data and --protocol do not apply"),
        (["--image", "PHOTO", "--blend_band", "-1"], "--blend_band is a width in pixels"),
        (["--data", "PHOTO"], "use --image"),
    ],
)
def test_one_picture_bad_inputs(assets, tmp_path, monkeypatch, capsys, extra, message):
    photo, _, _ = _photo(tmp_path)
    Image.fromarray(np.full((64, 96), 100, np.uint8)).save(tmp_path / "faint.png")  # nothing marked >= 128
    subst = {"PHOTO": str(photo), "FAINT": str(tmp_path / "faint.png"), "NOWHERE.png": str(tmp_path / "no.png")}
    argv = [
        "inpaint.py",
        "--model",
        str(assets / "model"),
        "--no_lpips",
        "--out",
        str(tmp_path / "o"),
        *[subst.get(a, a) for a in extra],
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and message in captured.err and "Traceback" not in captured.err, captured.err


def test_sixteen_bit_picture_is_not_read_as_white(assets, tmp_path):
    yy, xx = np.mgrid[0:64, 0:64]
    Image.fromarray((yy * 1000 + xx * 10).astype(np.uint16)).save(tmp_path / "grey16.png")  # 0..63630
    results = evaluate(
        [
            "--model",
            str(assets / "model"),
            "--image",
            str(tmp_path / "grey16.png"),
            "--mask",
            "center",
            "--out",
            str(tmp_path / "out"),
            "--no_lpips",
        ]
    )
    observed = np.asarray(Image.open(tmp_path / "out" / "grey16_observed32.png"))
    assert observed[:8].mean() < 60 and observed[-8:].mean() > 180, "the 16-bit levels, scaled"
    assert results["image"]["picture_missing"] == 1024
