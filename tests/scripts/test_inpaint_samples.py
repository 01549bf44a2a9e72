"""eval/inpaint.py --samples K: K draws per face scored over the hole (per sample, best of K, the samples' mean, CRPS
beside the mean completion's MAE, coverage, diversity, Frechet distances), a figure; unconditional draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import load_script, save_random_alexnet, smooth_faces, tiny_sampler

from hypersiren.prior import HyperSiren, HyperSirenConfig

inpaint = load_script("eval/inpaint.py")


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("samples")
    tiny_sampler(16).save_pretrained(root / "model")
    HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16)).save_pretrained(root / "mean")
    np.savez(root / "test.npz", images=smooth_faces(12, 16))
    save_random_alexnet(root / "alex.npz")
    return root


def run(assets, tmp_path, *extra: str) -> dict:
    argv = [
        "--model",
        str(assets / "model"),
        "--data",
        str(assets / "test.npz"),
        "--limit",
        "6",
        "--out",
        str(tmp_path / "out"),
        "--lpips_weights",
        str(assets / "alex.npz"),
        *extra,
    ]
    return inpaint.main(inpaint.parse_args(argv))


def test_samples_are_scored_over_the_hole(assets, tmp_path, capsys):
    scores = run(assets, tmp_path, "--mask", "center", "--samples", "4")["center"]["samples"]
    for key in (
        "sample_psnr",
        "best_of_k_psnr",
        "samples_mean_psnr",
        "mean_psnr",
        "crps",
        "mean_mae",
        "coverage",
        "diversity",
        "frechet_samples",
        "frechet_mean",
    ):
        assert math.isfinite(scores[key]), f"{key} = {scores[key]}"
    assert scores["best_of_k_psnr"] >= scores["sample_psnr"] and len(scores["best_of_k"]) == 4
    assert scores["best_of_k"][0] == pytest.approx(scores["sample_psnr"], abs=1e-3), "best of 1: a sample"
    assert 0 <= scores["coverage"] <= 1 and scores["diversity"] > 0
    assert (tmp_path / "out" / "samples_center.png").is_file()
    assert "best of 4" in capsys.readouterr().out


def test_unconditional_draws_and_the_errors(assets, tmp_path):
    scores = run(assets, tmp_path, "--mask", "empty", "--samples", "2")["empty"]["samples"]
    assert math.isfinite(scores["frechet_samples"]) and scores["diversity"] > 0
    with pytest.raises(ValueError, match="no sampler"):
        run(assets, tmp_path, "--model", str(assets / "mean"), "--samples", "2")
    with pytest.raises(ValueError, match="K >= 2"):
        run(assets, tmp_path, "--samples", "1")
    with pytest.raises(ValueError, match="more real faces"):
        run(assets, tmp_path, "--samples", "2", "--limit", "10")


def test_sampler_churn_draws_by_the_sde_and_is_checked(assets, tmp_path):
    """--sampler_churn sets the loaded sampler's SDE (other draws, the same mean); a model without a sampler, a
    classical method or a negative value are refused by name."""
    ode = run(assets, tmp_path, "--mask", "center", "--samples", "2", "--sampler_churn", "0")["center"]
    sde = run(assets, tmp_path, "--mask", "center", "--samples", "2", "--sampler_churn", "2")["center"]
    assert sde["psnr_missing"] == ode["psnr_missing"], "the mean completion does not depend on the sampler"
    assert sde["samples"]["sample_psnr"] != ode["samples"]["sample_psnr"], "the SDE draws other completions"
    with pytest.raises(ValueError, match="sampler_churn: .* has no sampler"):
        run(assets, tmp_path, "--model", str(assets / "mean"), "--sampler_churn", "1")
    for bad in (["--sampler_churn", "-1"], ["--method", "linear", "--sampler_churn", "1"]):
        with pytest.raises(ValueError, match="--sampler_churn is >= 0"):
            run(assets, tmp_path, *bad)


def test_nearest_faces_is_scored_by_the_same_code(assets, tmp_path):
    """--method nearest_faces --samples K: the classical sampler's row, from the training faces beside --data."""
    folder = tmp_path / "faces"
    folder.mkdir()
    np.savez(folder / "train.npz", images=smooth_faces(30, 16, seed=4))
    np.savez(folder / "test.npz", images=smooth_faces(12, 16))
    argv = [
        "--method",
        "nearest_faces",
        "--data",
        str(folder / "test.npz"),
        "--limit",
        "6",
        "--mask",
        "center",
        "--samples",
        "4",
        "--out",
        str(tmp_path / "out"),
        "--lpips_weights",
        str(assets / "alex.npz"),
    ]
    result = inpaint.main(inpaint.parse_args(argv))["center"]
    scores = result["samples"]
    assert scores["diversity"] > 0 and math.isfinite(scores["frechet_samples"]) and 0 <= scores["coverage"] <= 1
    assert math.isfinite(result["psnr_missing"]), "its point forecast (the pool's mean) is scored as a fill"
    with pytest.raises(ValueError, match="at most 20"):
        inpaint.main(inpaint.parse_args([*argv[:9], "30", *argv[10:]]))
    with pytest.raises(ValueError, match="no train.npz"):
        inpaint.main(
            inpaint.parse_args(
                [
                    "--method",
                    "nearest_faces",
                    "--data",
                    str(assets / "test.npz"),
                    "--samples",
                    "2",
                    "--out",
                    str(tmp_path / "o2"),
                ]
            )
        )


def test_a_pictures_draws_at_its_own_size(assets, tmp_path, capsys):
    """--image --samples K: K pictures of the input's size, each a draw (different in the hole), identical beyond
    the blend band, their standard deviation and a figure; the same seed draws them again."""
    from PIL import Image

    rng = np.random.default_rng(0)
    picture = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    Image.fromarray(picture).save(tmp_path / "photo.png")
    argv = [
        "--model",
        str(assets / "model"),
        "--image",
        str(tmp_path / "photo.png"),
        "--mask",
        "center",
        "--no_align",
        "--samples",
        "3",
        "--seed",
        "5",
        "--out",
        str(tmp_path / "out"),
        "--no_lpips",
    ]
    result = inpaint.main(inpaint.parse_args(argv))["image"]
    files = [tmp_path / "out" / f for f in result["files"]]
    draws = [np.asarray(Image.open(f)) for f in files[:3]]
    assert all(d.shape == (40, 60, 3) for d in draws) and files[3].is_file()
    assert (tmp_path / "out" / "samples_photo.png").is_file()
    differ = np.any(draws[0] != draws[1], axis=-1)
    assert differ.any(), "two draws differ in the hole"
    ys, xs = np.nonzero(differ)
    far = np.ones((40, 60), dtype=bool)
    far[max(0, ys.min() - 3) : ys.max() + 4, max(0, xs.min() - 3) : xs.max() + 4] = False
    assert all(np.array_equal(d[far], picture[far]) for d in draws), "every pixel beyond the band as it came in"
    again = inpaint.main(inpaint.parse_args([*argv[:-2], str(tmp_path / "again"), "--no_lpips"]))["image"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again" / again["files"][0])), draws[0]), "seeded"
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("drew 3 completions")
