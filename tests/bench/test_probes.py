"""bench/probes/: each probe's main in-process on a tiny case (a 16-wide grid prior, 16x16 faces), and the exact
properties the docs' numbers rest on: the flip probe's and the test-time probe's "before" is eval/inpaint.py's
psnr_missing, zero test-time steps change nothing, the shifted masks hide what they should, a harmonic error
vanishes under its projection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import ROOT, load_script, smooth_faces, tiny_sampler
from PIL import Image

from hypersiren import HyperSiren, HyperSirenConfig
from hypersiren.app.reports import mean
from hypersiren.fitting.signals import save_image
from hypersiren.inpaint.pipeline import evaluate
from hypersiren.masks import make_observed
from hypersiren.siren.coords import grid

flip = load_script("bench/probes/flip_average.py")
ttt = load_script("bench/probes/test_time_training.py")
compile_step = load_script("bench/probes/compile_step.py")
harmonic = load_script("bench/probes/harmonic_projection.py")
SIZE = 16


@pytest.fixture
def tiny(tmp_path):
    """A tiny grid prior saved as a model folder, and 6 smooth 16x16 faces as a test.npz."""
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(image_size=SIZE, encoder="grid", hypernet="grid")).eval()
    model.save_pretrained(tmp_path / "model")
    np.savez(tmp_path / "test.npz", images=smooth_faces(6, SIZE), ids=np.arange(6, dtype=np.int32))
    return model, str(tmp_path / "model"), str(tmp_path / "test.npz")


def _eval_psnr_missing(model: HyperSiren, data: str) -> float:
    """What eval/inpaint.py reports as psnr_missing for the centre hole (its defaults: bf16 encoder, chunk 8)."""
    images = torch.from_numpy(np.load(data)["images"]).permute(0, 3, 1, 2)  # (N, 3, S, S) uint8
    observed = make_observed("center", len(images), SIZE, SIZE)
    per_image, _ = evaluate(images, observed, model, chunk=8, encoder_dtype=torch.bfloat16)
    return mean(per_image["psnr_missing"])


def test_flip_average_starts_from_the_evaluation(tiny, capsys):
    model, folder, data = tiny
    result = flip.main(flip.parse_args(["--model", folder, "--data", data, "--batch_size", "4"]))
    assert result["before"] == pytest.approx(_eval_psnr_missing(model, data), abs=1e-9), result
    assert math.isfinite(result["after"]) and result["after"] != result["before"], result
    assert result["images"] == 6 and 0 <= result["better"] <= 6, result
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("flip average on "), "the summary is last"


def test_shifted_masks_hide_a_shifted_square_of_observed_pixels():
    observed = make_observed("center", 1, SIZE, SIZE)  # an 8x8 hole at 4..12
    masks = ttt.shifted_masks(observed, 8, 32, 4, torch.Generator().manual_seed(0))
    assert masks.shape == (32, 1, SIZE, SIZE), masks.shape
    candidates = {}
    for dy in range(-4, 5):
        for dx in range(-4, 5):
            if (dy, dx) != (0, 0):
                candidates[(dy, dx)] = observed[0, 0].clone()
                candidates[(dy, dx)][4 + dy : 12 + dy, 4 + dx : 12 + dx] = False
    hidden = (observed & ~masks).flatten(1).sum(1)  # observed pixels each mask hid
    drawn = set()
    for k in range(32):
        matches = [d for d, m in candidates.items() if torch.equal(m, masks[k, 0])]
        assert len(matches) == 1, f"mask {k} is the hole and one 8x8 square shifted by 1..4 pixels"
        dy, dx = matches[0]
        drawn.add((dy, dx))
        assert hidden[k] == 64 - (8 - abs(dy)) * (8 - abs(dx)), (k, dy, dx, hidden[k])
    assert len(drawn) > 16, f"32 draws of 80 shifts gave only {len(drawn)} distinct ones"


def test_test_time_training_without_steps_is_the_evaluation_and_with_steps_moves(tiny, capsys):
    model, folder, data = tiny
    common = ["--model", folder, "--data", data, "--masks", "4"]
    still = ttt.main(ttt.parse_args([*common, "--steps", "0"]))
    assert still["before"] == pytest.approx(_eval_psnr_missing(model, data), abs=1e-9), still
    assert still["change"] == 0 and still["better"] == 0 and still["faces"] == 6, ("0 steps change nothing", still)
    moved = ttt.main(ttt.parse_args([*common, "--limit", "2", "--steps", "2", "--lr", "1e-2"]))
    assert abs(moved["change"]) > 1e-4 and moved["faces"] == 2, moved
    assert math.isfinite(moved["stderr"]) and moved["seconds_per_face"] > 0, moved
    assert "faces better" in capsys.readouterr().out.strip().splitlines()[-1], "the summary is last"


def test_compile_step_variants_train_the_same_model(capsys):
    args = compile_step.parse_args(
        [
            "--config",
            str(ROOT / "configs/tiny.yaml"),
            "--variants",
            "eager",
            "channels_last",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--batch_size=4",
        ]
    )
    assert args.overrides == ["--batch_size=4"], args.overrides
    result = compile_step.main(args)
    eager, cl = result["eager"], result["channels_last"]
    assert eager["seconds_per_step"] > 0 and cl["seconds_per_step"] > 0, result
    assert cl["first_loss"] == pytest.approx(eager["first_loss"], rel=1e-4), "channels_last computes the same step"
    assert cl["ratio"] == pytest.approx(cl["seconds_per_step"] / eager["seconds_per_step"]), result
    assert "channels_last" in capsys.readouterr().out.strip().splitlines()[-1], "the summary is last"


def test_harmonic_projection_removes_harmonic_errors_exactly():
    yx = grid(SIZE, SIZE, dtype=torch.float64)
    z = torch.complex(yx[:, 1], yx[:, 0])
    image = torch.from_numpy(smooth_faces(1, SIZE)[0, :, :, 0]).double()[None] / 127.5 - 1  # (1, S, S)
    plane, quadratic = 0.1 * (0.2 + yx[:, 1] - 0.5 * yx[:, 0]), 0.05 * (z**2).real + 0.03 * (z**2).imag
    prediction = image + (plane + quadratic).reshape(1, SIZE, SIZE)
    out = harmonic.project(prediction, image, [1, 2])
    alone = 10 * math.log10(4 / quadratic.square().mean().item())  # x^2 - y^2 and x y: orthogonal to the plane
    assert out[1] == pytest.approx(alone, abs=1e-6), ("without the plane, the quadratic's PSNR", out, alone)
    assert out[2] > 200 and out[None] < out[1], ("a quadratic harmonic error is removed at degree 2", out)
    with pytest.raises(ValueError, match="one shape"):
        harmonic.project(prediction[:, :8], image, [1])


def test_harmonic_projection_main_reads_a_saved_prediction(tmp_path, capsys):
    yx = grid(SIZE, SIZE)
    image = torch.from_numpy(smooth_faces(1, SIZE)[0, :, :, :1]).permute(2, 0, 1).float() / 127.5 - 1
    save_image(tmp_path / "image.png", image)
    save_image(tmp_path / "siren.png", image + 0.2 * yx[:, 1].reshape(1, SIZE, SIZE))  # a plane's error
    args = harmonic.parse_args(["--prediction", str(tmp_path / "siren.png"), "--image", str(tmp_path / "image.png")])
    out = harmonic.main(args)
    assert out[None] < 25 and out[1] > 45, ("the plane goes, 8-bit rounding stays", out)
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("harmonic projection: "), "the summary is last"


def test_new_faces_draws_a_grid_of_distinct_faces(tmp_path, capsys):
    new_faces = load_script("bench/probes/new_faces.py")
    tiny_sampler().save_pretrained(tmp_path / "model")
    args = ["--model", str(tmp_path / "model"), "--count", "10", "--size", "24", "--out", str(tmp_path / "f.png")]
    out = new_faces.main(args)
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * 26, 8 * 26, 3), grid.shape  # 10 faces in rows of 8, 2 pixels apart
    first, second = grid[:24, :24], grid[:24, 26:50]
    assert not np.array_equal(first, second), "two draws from one generator should differ"
    assert "10 new faces" in capsys.readouterr().out


def test_residual_spectrum_splits_colour_and_frequency_and_compares_draws_with_the_truth(tmp_path):
    spectrum = load_script("bench/probes/residual_spectrum.py")
    grey = torch.zeros(2, 3, 16, 16)
    grey[:, :, 4:12, 4:12] = 0.5  # the same offset on every channel, flat over the hole: luminance at DC only
    std, bands = spectrum.hole_stats(grey, (4, 4, 8, 8))
    assert std[0] == pytest.approx(0.5 * math.sqrt(3)) and std[1:] == pytest.approx([0, 0], abs=1e-7)
    assert bands == pytest.approx([0.75, 0, 0, 0], abs=1e-6), "all the power at DC (0.5^2 * 3 channels)"
    stripes = torch.zeros(1, 3, 8, 8)
    stripes[:, 0, :, ::2], stripes[:, 1, :, ::2] = 1.0, -1.0  # red-green stripes at Nyquist
    std, bands = spectrum.hole_stats(stripes, (0, 0, 8, 8))
    assert std[0] == pytest.approx(0, abs=1e-7) and std[1] > 0, "red against green: no luminance"
    assert bands[-1] > 0 and bands[1:3] == pytest.approx([0, 0], abs=1e-6), "DC (their mean) and Nyquist only"
    tiny_sampler().save_pretrained(tmp_path / "model")
    np.savez(tmp_path / "val.npz", images=smooth_faces(4, 16), ids=np.arange(4, dtype=np.int32))
    stats = spectrum.main(["--model", str(tmp_path / "model"), "--data", str(tmp_path / "val.npz"), "--threads", "1"])
    assert set(stats) == {"truth - mean", "draw - mean"}
    assert all(np.isfinite(a).all() and (a >= 0).all() for pair in stats.values() for a in pair)
    churned = spectrum.main(
        [
            "--model",
            str(tmp_path / "model"),
            "--data",
            str(tmp_path / "val.npz"),
            "--threads",
            "1",
            "--sampler_churn",
            "1",
        ]
    )
    assert churned["truth - mean"][0] == pytest.approx(stats["truth - mean"][0]), "the truth does not depend on it"
    assert not np.allclose(churned["draw - mean"][0], stats["draw - mean"][0]), "the SDE draws other pixels"
    with pytest.raises(SystemExit):
        spectrum.main(
            ["--model", str(tmp_path / "model"), "--data", str(tmp_path / "val.npz"), "--sampler_churn", "-1"]
        )


lattice = load_script("bench/probes/code_lattice.py")


def test_the_lattice_probe_sees_nearest_upsampling_and_nothing_in_noise(tmp_path):
    """A map upsampled 4x by nearest neighbour jumps only at multiples of 4 (huge ratios at p = 2 and 4, none inside);
    white noise has no lattice (every ratio within 0.1 of 1); the probe runs on a tiny sampler's draws."""
    g = torch.Generator().manual_seed(0)
    hole = torch.ones(32, 32, dtype=torch.bool)
    coarse = torch.nn.functional.interpolate(torch.randn(4, 3, 8, 8, generator=g), scale_factor=4, mode="nearest")
    blocky = lattice.lattice_ratios(coarse + 1e-3 * torch.randn(coarse.shape, generator=g), hole)
    assert blocky[4] > 100 and blocky[2] > 20, blocky
    noise = lattice.lattice_ratios(torch.randn(64, 3, 32, 32, generator=g), hole)
    assert all(abs(r - 1) < 0.1 for r in noise.values()), noise
    tiny_sampler().save_pretrained(tmp_path / "model")
    np.savez(tmp_path / "val.npz", images=smooth_faces(4, 16), ids=np.arange(4, dtype=np.int32))
    ratios = lattice.main(["--model", str(tmp_path / "model"), "--data", str(tmp_path / "val.npz"), "--threads", "1"])
    assert set(ratios) == {"codes", "mean", "draw", "truth"}
    assert all(math.isfinite(r) and r > 0 for source in ratios.values() for r in source.values()), ratios
    np.savez(tmp_path / "big.npz", images=smooth_faces(2, 32), ids=np.arange(2, dtype=np.int32))
    with pytest.raises(SystemExit):  # 32x32 faces for a 16x16 prior
        lattice.main(["--model", str(tmp_path / "model"), "--data", str(tmp_path / "big.npz")])
