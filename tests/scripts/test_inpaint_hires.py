"""eval/inpaint.py --hires_data: the SIRENs scored at a larger side against the same faces there, beside bicubic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import load_script, smooth_faces

from hypersiren.prior import HyperSiren, HyperSirenConfig

inpaint = load_script("eval/inpaint.py")


def test_hires_data_scores_the_renderings_at_the_larger_side(tmp_path, capsys):
    torch.manual_seed(0)
    HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16)).save_pretrained(tmp_path / "m")
    faces = smooth_faces(4, 32)
    small = faces.reshape(4, 16, 2, 16, 2, 3).mean((2, 4)).round().astype(np.uint8)  # the same faces at 16
    np.savez(tmp_path / "small.npz", images=small)
    np.savez(tmp_path / "large.npz", images=faces)
    argv = [
        "--model",
        str(tmp_path / "m"),
        "--data",
        str(tmp_path / "small.npz"),
        "--hires_data",
        str(tmp_path / "large.npz"),
        "--mask",
        "center",
        "--no_lpips",
        "--out",
        str(tmp_path / "out"),
    ]
    result = inpaint.main(inpaint.parse_args(argv))["center"]
    for key in ("hires_psnr", "hires_psnr_missing", "hires_psnr_ring", "bicubic_hires_psnr_ring"):
        assert math.isfinite(result[key]), f"{key} = {result[key]}"
    assert result["bicubic_hires_psnr"] > result["hires_psnr"], "an untrained SIREN loses to bicubic upsampling"
    assert "32: all" in capsys.readouterr().out
    np.savez(tmp_path / "fewer.npz", images=faces[:3])
    with pytest.raises(ValueError, match="not the same"):
        inpaint.main(inpaint.parse_args([*argv[:5], str(tmp_path / "fewer.npz"), *argv[6:]]))


def test_hires_data_is_read_at_its_own_side_four_times_larger(tmp_path, capsys):
    """An npz of 64x64 faces beside 16x16 ones: --hires_data reads it at its own side (4x), without --hires_size."""
    torch.manual_seed(0)
    HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16)).save_pretrained(tmp_path / "m")
    faces = smooth_faces(4, 64)
    small = faces.reshape(4, 16, 4, 16, 4, 3).mean((2, 4)).round().astype(np.uint8)
    np.savez(tmp_path / "small.npz", images=small)
    np.savez(tmp_path / "large.npz", images=faces)
    argv = [
        "--model",
        str(tmp_path / "m"),
        "--data",
        str(tmp_path / "small.npz"),
        "--hires_data",
        str(tmp_path / "large.npz"),
        "--mask",
        "full",
        "--no_lpips",
        "--out",
        str(tmp_path / "out"),
    ]
    result = inpaint.main(inpaint.parse_args(argv))["full"]
    assert math.isfinite(result["hires_psnr"]) and math.isfinite(result["bicubic_hires_psnr"])
    assert "64: all" in capsys.readouterr().out
