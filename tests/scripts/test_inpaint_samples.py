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
    argv = ["--model", str(assets / "model"), "--data", str(assets / "test.npz"), "--limit", "6", "--out",
            str(tmp_path / "out"), "--lpips_weights", str(assets / "alex.npz"), *extra]  # fmt: skip
    return inpaint.main(inpaint.parse_args(argv))


def test_samples_are_scored_over_the_hole(assets, tmp_path, capsys):
    scores = run(assets, tmp_path, "--mask", "center", "--samples", "4")["center"]["samples"]
    for key in ("sample_psnr", "best_of_k_psnr", "samples_mean_psnr", "mean_psnr", "crps", "mean_mae", "coverage",
                "diversity", "frechet_samples", "frechet_mean"):  # fmt: skip
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
