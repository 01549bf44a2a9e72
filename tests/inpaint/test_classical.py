"""Classical fills (hypersiren.inpaint.classical) and eval/inpaint.py --method on them (CPU, no network)."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from helpers import load_script, smooth_faces, write_npz_split

from hypersiren.data import to_model_range
from hypersiren.inpaint import classical
from hypersiren.masks import make_observed
from hypersiren.prior import HyperSiren, HyperSirenConfig

inpaint = load_script("eval/inpaint.py")
S = 16


def observed_masks(batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    kinds = ("random", "center", "half")
    return {kind: make_observed(kind, batch, S, S, num_context=40, generator=g) for kind in kinds}


def missing_mse(a: torch.Tensor, b: torch.Tensor, observed: torch.Tensor) -> float:
    missing = (~observed).expand_as(a)
    return ((a - b)[missing] ** 2).mean().item()


@pytest.mark.parametrize("method", classical.METHODS)
def test_constant_image_is_filled_exactly(method):
    colour = torch.tensor([0.3, -0.7, 0.9])[None, :, None, None]  # (1, 3, 1, 1)
    images = colour.expand(3, 3, S, S).clone()
    for kind, observed in observed_masks().items():
        context = torch.where(observed, images, torch.zeros_like(images))  # missing values are never read
        out = classical.fill(context, observed, method)
        assert out.shape == images.shape and out.dtype == images.dtype
        err = (out - images).abs().max().item()
        assert err < 1e-6, f"{method} on a constant image under a {kind} mask is off by {err}"


@pytest.mark.parametrize("method", classical.METHODS)
def test_observed_pixels_unchanged_and_output_in_range(method):
    torch.manual_seed(0)
    images = torch.rand(3, 3, S, S) * 2 - 1
    for kind, observed in observed_masks(seed=1).items():
        out = classical.fill(images, observed, method)
        obs = observed.expand_as(images)
        assert torch.equal(out[obs], images[obs]), f"{method}, {kind}: observed pixels must be copied exactly"
        assert out.min() >= -1 and out.max() <= 1, f"{method}, {kind}: output leaves [-1, 1]"
        assert torch.isfinite(out).all()


def test_fully_observed_image_is_returned_as_is():
    images = torch.rand(2, 3, S, S) * 2 - 1
    observed = torch.ones(2, 1, S, S, dtype=torch.bool)
    for method in classical.METHODS:
        assert torch.equal(classical.fill(images, observed, method), images), method


def test_linear_reproduces_a_ramp_inside_the_hull():
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
    images = torch.stack([0.5 * yy + 0.3 * xx, -0.2 * yy + 0.6 * xx + 0.1, 0.4 * yy - 0.4 * xx])[None] * 0.9
    observed = make_observed("center", 1, S, S)  # every missing pixel lies inside the hull of the ring
    err = (classical.fill(images, observed, "linear") - images).abs().max().item()
    assert err < 1e-5, f"linear interpolation of an affine image is exact inside the hull, off by {err}"
    g = torch.Generator().manual_seed(0)
    observed = make_observed("random", 1, S, S, num_context=60, generator=g)
    observed[..., [0, 0, -1, -1], [0, -1, 0, -1]] = True  # the corners: the hull is the whole image
    err = (classical.fill(images, observed, "linear") - images).abs().max().item()
    assert err < 1e-5, f"random context with the corners: the hull covers the image, off by {err}"


def test_linear_falls_back_to_nearest_without_a_triangulation():
    torch.manual_seed(0)
    images = torch.rand(1, 3, S, S) * 2 - 1
    for rows in ([3], [3, 3]):  # one row: collinear pixels (QhullError); one pixel: < 3 points
        observed = torch.zeros(1, 1, S, S, dtype=torch.bool)
        observed[0, 0, rows[0], : S if len(rows) == 1 else 1] = True
        linear = classical.fill(images, observed, "linear")
        assert torch.equal(linear, classical.fill(images, observed, "nearest")), f"{observed.sum()} observed"
    observed = torch.zeros(1, 1, S, S, dtype=torch.bool)
    observed[0, 0, 2:4, 5] = True  # two points
    assert torch.equal(classical.fill(images, observed, "linear"), classical.fill(images, observed, "nearest"))


def test_mean_is_the_observed_mean_colour():
    torch.manual_seed(0)
    images = torch.rand(2, 3, S, S) * 2 - 1
    observed = observed_masks(batch=2)["random"]
    out = classical.fill(images, observed, "mean")
    for i in range(2):
        expected = images[i][:, observed[i, 0]].mean(dim=1)  # (3,)
        assert torch.allclose(out[i][:, ~observed[i, 0]], expected[:, None], atol=1e-6)


def test_biharmonic_beats_linear_beats_mean_on_smooth_images():
    images = to_model_range(torch.from_numpy(smooth_faces(4, 32, seed=3)).permute(0, 3, 1, 2))  # (4, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    observed = make_observed("random", 4, 32, 32, num_context=100, generator=g)
    err = {m: missing_mse(classical.fill(images, observed, m), images, observed) for m in classical.METHODS}
    # measured once (model range): mean 0.0292, nearest 0.00121, linear 0.000226, biharmonic 0.0000584
    assert err["biharmonic"] < 0.01 * err["mean"], f"biharmonic must beat the mean colour by far: {err}"
    assert err["biharmonic"] < 0.5 * err["linear"] and err["linear"] < 0.05 * err["mean"], err
    assert err["linear"] < err["nearest"] < err["mean"], err


@pytest.mark.parametrize(
    ("images", "observed", "method", "message"),
    [
        ((2, 3, S, S), (2, 1, S, S), "cubic", "unknown fill method 'cubic'; valid methods: mean, nearest, linear"),
        ((2, 3, S, S), (2, 3, S, S), "mean", r"observed must be \(B, 1, H, W\)"),
        ((2, 3, S, S), (1, 1, S, S), "mean", r"observed must be \(B, 1, H, W\)"),
        ((3, S, S), (1, S, S), "mean", r"images must be \(B, C, H, W\)"),
    ],
)
def test_bad_inputs_raise_clear_errors(images, observed, method, message):
    with pytest.raises(ValueError, match=message):
        classical.fill(torch.zeros(images), torch.ones(observed, dtype=torch.bool), method)


@pytest.mark.parametrize("method", classical.METHODS)
def test_no_observed_pixel_raises(method):
    observed = torch.ones(3, 1, S, S, dtype=torch.bool)
    observed[1] = False
    with pytest.raises(ValueError, match=rf"{method} fill needs at least one observed pixel.*image\(s\) \[1\]"):
        classical.fill(torch.zeros(3, 3, S, S), observed, method)


def test_non_bool_observed_raises():
    with pytest.raises(ValueError, match="observed must be a bool tensor"):
        classical.fill(torch.zeros(1, 3, S, S), torch.ones(1, 1, S, S), "mean")


# --- eval/inpaint.py --method ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("classical")
    write_npz_split(root / "data", size=S, counts=(("test", 6),))
    torch.manual_seed(0)
    HyperSiren(HyperSirenConfig.tiny(image_size=S)).save_pretrained(root / "model")
    (root / "config_only").mkdir()
    (root / "config_only" / "config.json").write_text(json.dumps({"image_size": S}))  # no weights: never loaded
    return root


def run(assets, out, *extra: str) -> dict:
    return inpaint.main(
        inpaint.parse_args(
            ["--data", str(assets / "data" / "test.npz"), "--out", str(out), "--batch_size", "4", "--no_lpips", *extra]
        )
    )


def test_eval_linear_end_to_end(assets, tmp_path, capsys):
    results = run(
        assets,
        tmp_path / "linear",
        "--method",
        "linear",
        "--image_size",
        str(S),
        "--mask",
        "random",
        "--num_context",
        "60",
    )
    saved = json.loads((tmp_path / "linear" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(results)), "main returns what metrics.json holds"
    assert saved["meta"]["method"] == "linear" and saved["meta"]["model"] is None, saved["meta"]
    assert saved["meta"]["image_size"] == S
    r = saved["random_60"]
    assert r["images"] == 6 and r["mean_observed"] == 60 and r["lpips"] is None, r
    assert r["psnr_missing"] > 32, f"linear fill of smooth synthetic faces: {r['psnr_missing']:.2f} dB (38.2 measured)"
    assert (tmp_path / "linear" / "grid_random_60.png").stat().st_size > 1000
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("data: ") and "method: classical linear fill" in printed[0], printed[0]
    assert printed[-1].startswith("inpainted ") and "classical linear fill" in printed[-1], printed[-1]


def test_eval_classical_uses_the_models_masks(assets, tmp_path):
    """Same seeds per setting: the classical fill and the model see the very same observed pixels."""
    common = ("--mask", "bernoulli", "--num_context", "80")  # a per-image count, so the masks are compared
    run(assets, tmp_path / "model", "--model", str(assets / "model"), *common)
    results = run(assets, tmp_path / "mean", "--method", "mean", "--model", str(assets / "config_only"), *common)
    assert results["meta"]["image_size"] == S, "the image size comes from the model folder's config.json"
    counts = {}
    for name in ("model", "mean"):
        rows = list(csv.DictReader(open(tmp_path / name / "per_image.csv")))
        counts[name] = [row["num_observed"] for row in rows]
    assert counts["model"] == counts["mean"] and len(set(counts["mean"])) > 1, counts


def test_eval_a_model_at_another_size_renders_there(assets, tmp_path):
    """A small model given 64x64 pictures reads them resampled and is scored on its 64x64 rendering."""
    write_npz_split(tmp_path / "big", size=64, counts=(("test", 2),))
    big = str(tmp_path / "big" / "test.npz")  # the last --data given wins
    results = run(
        assets,
        tmp_path / "o",
        "--data",
        big,
        "--model",
        str(assets / "model"),
        "--image_size",
        "64",
        "--protocol",
        "scaled",
        "--context_sampling",
        "exact",
    )
    assert results["meta"]["image_size"] == 64
    assert [k for k in results if k != "meta"] == ["40", "400", "4000", "half", "full"], "counts x (64 * 64 / 1024)"
    assert results["400"]["mean_observed"] == 400 and results["full"]["psnr"] > 10


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "linear", "--refine_steps", "5"], "--refine_steps acts on the model's SIRENs"),
        (["--method", "linear", "--render_size", "64"], "--render_size acts on the model's SIRENs"),
        (["--method", "linear", "--model", "NOWHERE"], "give image_size"),
    ],
)
def test_eval_bad_method_options(assets, tmp_path, extra, message):
    extra = [{"NOWHERE": str(tmp_path / "no"), "MODEL": str(assets / "model")}.get(a, a) for a in extra]
    with pytest.raises(ValueError, match=message):
        run(assets, tmp_path / "o", *extra)
