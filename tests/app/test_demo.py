"""The demo page's request, called directly (no browser): sizes, kept pixels, the hole, the picture at its own size,
the rendering, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import tiny_sampler
from PIL import Image

from hypersiren import HyperSiren, HyperSirenConfig
from hypersiren.app.complete_request import complete, respond
from hypersiren.app.demo import EXAMPLES_DIR
from hypersiren.app.page_input import HOLES, DemoError, load
from hypersiren.data import to_model_range, to_uint8
from hypersiren.inpaint import load_picture
from hypersiren.inpaint.composite import BAND

SIZE = 16


@pytest.fixture(scope="module")
def model() -> HyperSiren:
    torch.manual_seed(0)
    return HyperSiren(HyperSirenConfig.tiny(image_size=SIZE)).eval()


def _picture(width: int = 96, height: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([yy * 255 // height, xx * 255 // width, 255 - yy * 255 // height], -1).astype(np.uint8)


def _layer(width: int = 96, height: int = 64, box=(40, 16, 56, 32)) -> np.ndarray:
    """An RGBA layer painted (opaque) over ``box`` = (left, top, right, bottom), transparent elsewhere."""
    layer = np.zeros((height, width, 4), np.uint8)
    left, top, right, bottom = box
    layer[top:bottom, left:right] = (255, 0, 255, 255)
    return layer


def _far_from(box, width: int = 96, height: int = 64, distance: int = BAND) -> np.ndarray:
    """``(H, W)`` bool: the pixels farther than ``distance`` from the box ``(left, top, right, bottom)``."""
    left, top, right, bottom = box
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx < left - distance) | (xx >= right + distance) | (yy < top - distance) | (yy >= bottom + distance)


def test_painted_hole_sizes_kept_pixels_and_rendering(model):
    picture, layer = _picture(), _layer()
    r = complete(model, picture, [layer], "painted", scale=4)
    assert r.observed.shape == r.completed.shape == (SIZE, SIZE, 3) and r.rendered.shape == (4 * SIZE, 4 * SIZE, 3)
    # the centred 64x64 square is 4x the 16x16 grid: the box (40..56, 16..32) lands on columns 6..9, rows 4..7
    hole = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    hole[4:8, 6:10] = True
    assert r.num_missing == 16 and r.picture_missing == 256
    x = load_picture(picture, SIZE).image.permute(1, 2, 0).numpy()  # (S, S, 3) what the model saw
    changed = torch.from_numpy((r.completed != x).any(-1))
    assert not changed[~hole].any(), "observed pixels must be kept exactly"
    assert changed[hole].all(), "every pixel of the hole is completed"
    assert torch.equal(torch.from_numpy((r.observed == (115, 140, 191)).all(-1)), hole), "the hole is shown"
    observed = ~hole[None, None]
    context = torch.where(observed, to_model_range(torch.from_numpy(x).permute(2, 0, 1)[None]), 0.0)
    with torch.inference_mode():
        expected = to_uint8(model.render(context, observed, 4 * SIZE, 4 * SIZE))[0].permute(1, 2, 0).numpy()
    assert np.array_equal(r.rendered, expected), "the larger rendering is the model's render of the same SIREN"
    # the picture at its own size: the painted pixels completed, every pixel beyond the blend band as it came in
    assert r.picture.shape == picture.shape and r.picture.dtype == np.uint8
    moved = (r.picture != picture).any(-1)
    assert moved[16:32, 40:56].all() and not moved[_far_from((40, 16, 56, 32))].any()
    assert np.isfinite(r.psnr_hole) and np.isfinite(r.picture_psnr_hole) and 0 < r.seconds < 60
    assert any("centre-cropped" in n for n in r.notes) and any("No face found" in n for n in r.notes), r.notes


def test_painted_hole_near_an_edge_lands_where_drawn(model):
    """Outside the centred square: the model sees the 32x32 square around the hole (2x its 16-pixel side)."""
    picture = _picture()
    r = complete(model, picture, [_layer(box=(0, 24, 8, 40))], "painted", scale=2)
    hole = np.zeros((SIZE, SIZE), bool)
    hole[4:12, 0:4] = True  # the square (0..32, 16..48) is 2x the grid
    assert np.array_equal((r.observed == (115, 140, 191)).all(-1), hole), "the hole lands where it was drawn"
    moved = (r.picture != picture).any(-1)
    assert moved[24:40, 0:8].all() and not moved[_far_from((0, 24, 8, 40))].any()
    assert any("square around the hole" in n for n in r.notes), r.notes


@pytest.mark.parametrize(("hole", "missing"), [("center", 64), ("half_top", 128), ("random", SIZE * SIZE - 30)])
def test_preset_holes(model, hole, missing):
    r = complete(
        model, EXAMPLES_DIR / "astronaut.jpg", hole=hole, center_frac=0.5, num_context=30, scale=2, align=False
    )
    assert r.num_missing == missing and r.rendered.shape == (2 * SIZE, 2 * SIZE, 3)
    # no note on the square; only a hole beyond the page's Poisson budget (2**15 pixels) gets one, on its blend
    linear = any("faded linearly" in n for n in r.notes)
    assert linear == (r.picture_missing > 2**15) and len(r.notes) == linear, r.notes
    assert r.picture.shape == (256, 256, 3) and r.picture_missing == missing * (256 // SIZE) ** 2


def test_preset_hole_on_an_aligned_face(model):
    pytest.importorskip("cv2")
    r = complete(model, EXAMPLES_DIR / "astronaut.jpg", hole="center", scale=2)
    assert any("framed as CelebA's" in n for n in r.notes), r.notes
    assert r.num_missing == 64, "the centre (the turned square's corners beyond the picture are not scored)"
    source = np.asarray(Image.open(EXAMPLES_DIR / "astronaut.jpg").convert("RGB"))
    moved = (r.picture != source).any(-1)
    assert moved.any() and not moved[:20].any(), "the face's centre changed, the top rows did not"


def test_refinement_keeps_observed_pixels(model):
    r = complete(model, _picture(64, 64), [_layer(64, 64, (16, 16, 48, 48))], refine_steps=3, scale=2)
    x = load_picture(_picture(64, 64), SIZE).image.permute(1, 2, 0).numpy()
    assert np.array_equal(r.completed[:4], x[:4]) and "Refined for 3 steps" in " ".join(r.notes)
    plain = complete(model, _picture(64, 64), [_layer(64, 64, (16, 16, 48, 48))], refine_steps=0, scale=2)
    assert not np.array_equal(r.rendered, plain.rendered), "the larger rendering shows the refined SIREN"


def test_bad_inputs_each_give_their_message(model, tmp_path):
    (tmp_path / "bad.png").write_text("not a picture")
    picture = _picture()
    faint = _layer()
    faint[..., 3] = np.where(faint[..., 3] > 0, 100, 0)  # painted at less than half opacity: nothing is missing
    cases = [
        (dict(picture=None), "no picture"),
        (dict(picture=tmp_path / "bad.png", layers=[_layer()]), "bad.png is not a picture this page can read"),
        (dict(picture=picture), "nothing painted"),
        (dict(picture=picture, layers=[np.zeros((64, 96, 4), np.uint8)]), "nothing painted"),
        (dict(picture=picture, layers=[faint]), "hole is empty"),
        (dict(picture=picture, layers=[_layer(box=(0, 0, 96, 64))]), "covers the whole picture"),
        (dict(picture=picture, layers=[_layer(48, 48)]), "mask is 48x48 but the picture is 96x64"),
        (dict(picture=picture, hole="random", num_context=0), "covers the whole picture"),
        (dict(picture=picture, hole="blob"), "unknown hole"),
    ]
    for kwargs, message in cases:
        with pytest.raises(DemoError, match=message):
            complete(model, **kwargs)
        # through the button's handler: the message on the page, no results, no exception
        value = {"background": kwargs["picture"], "layers": kwargs.get("layers", []), "composite": None}
        status, *outputs = respond(model, "", value, kwargs.get("hole", "painted"), 0.5, kwargs.get("num_context", 9))
        assert status.startswith("**Cannot complete:**") and message in status and outputs == [None] * 5, status


def test_handler_output_and_unloadable_model(model, tmp_path):
    value = {"background": _picture(), "layers": [_layer()], "composite": None}
    status, picture, observed, completed, rendered, files = respond(model, "", value, "painted", 0.5, 100, "2", 0)
    assert "Completed 256 missing pixels of the 96x64 picture (16 of the model's" in status, status
    assert "PSNR over the hole" in status and "centre-cropped" in status
    assert picture.shape == (64, 96, 3) and rendered.shape == (2 * SIZE, 2 * SIZE, 3) and len(files) == 3
    assert [Image.open(f).size for f in files] == [(96, 64), (SIZE, SIZE), (2 * SIZE, 2 * SIZE)]
    assert np.array_equal(np.asarray(Image.open(files[0])), picture), "the download is the picture shown"
    missing, line = load(str(tmp_path / "nowhere"))
    assert missing is None and "cannot be loaded" in line and "nowhere" in line
    status, *outputs = respond(None, line, value)
    assert "cannot be loaded" in status and outputs == [None] * 5
    loaded, line = load(None)  # the shipped prior by default
    assert loaded is not None and "celeba32" in line


def test_holes_and_examples_exist():
    assert {kind for _, kind in HOLES} >= {"painted", "center", "half_top", "random"}
    examples = sorted(EXAMPLES_DIR.glob("*.jpg"))
    assert len(examples) >= 3 and all(min(Image.open(p).size) >= 256 for p in examples), "big enough to paint on"


@pytest.fixture(scope="module")
def sampler_model() -> HyperSiren:
    return tiny_sampler(SIZE)


def test_samples_of_a_painted_hole_at_the_pictures_size_seeded_and_kept_outside(sampler_model):
    from hypersiren.app.sample_request import sample

    box = (40, 16, 56, 32)
    r = sample(sampler_model, _picture(), [_layer(box=box)], num_samples=3, seed=7)
    assert len(r.pictures) == 3 and all(p.shape == (64, 96, 3) for p in r.pictures) and r.seed == 7
    far = _far_from(box)
    for p in r.pictures:
        assert np.array_equal(p[far], _picture()[far]), "every pixel beyond the band as it came in"
    assert not np.array_equal(r.pictures[0], r.pictures[1]), "two samples of the hole differ"
    assert r.uncertainty.shape == (SIZE, SIZE, 3) and len(r.squares) == 3 and r.squares[0].shape == (SIZE, SIZE, 3)
    again = sample(sampler_model, _picture(), [_layer(box=box)], num_samples=3, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(r.pictures, again.pictures, strict=True)), "the seed draws again"
    assert (
        sample(sampler_model, _picture(), [_layer(box=box)], num_samples=3).seed
        != sample(sampler_model, _picture(), [_layer(box=box)], num_samples=3).seed
    ), "no seed: a new one each press"
    larger = sample(sampler_model, _picture(), hole="center", num_samples=2, seed=1, scale=4)
    assert larger.squares[0].shape == (4 * SIZE, 4 * SIZE, 3)


def test_sampling_handler_and_its_messages(model, sampler_model):
    from hypersiren.app.sample_request import respond_samples

    status, pictures, squares, uncertainty, files = respond_samples(
        sampler_model, "", {"background": _picture()}, "center", num_samples=2, seed=3
    )
    assert "**seed 3**" in status and len(pictures) == 2 and len(squares) == 2 and uncertainty is not None
    assert len(files) == 5 and all(f.endswith(".png") for f in files)
    status, *rest = respond_samples(model, "", {"background": _picture()}, "center")
    assert "no sampler" in status and rest == [None] * 4
    status, *rest = respond_samples(sampler_model, "", {"background": _picture()}, "center", num_samples=40)
    assert "1 to 16" in status
    status, *rest = respond_samples(sampler_model, "", {"background": _picture()}, "center", seed="abc")
    assert "seed must be a whole number" in status and rest == [None] * 4
    status, *rest = respond_samples(sampler_model, "", {"background": _picture()}, "center", num_samples=2, seed=" 7 ")
    assert "**seed 7**" in status  # the page's text box
