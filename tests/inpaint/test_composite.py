"""The picture at its own size: the model's square, the SIREN at the picture's pixels, the blend (Poisson or a linear
fade), nothing else."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from hypersiren import HyperSiren, HyperSirenConfig
from hypersiren.data import center_crop_resize, to_uint8
from hypersiren.inpaint import load_picture
from hypersiren.inpaint.blend import blend_weights, poisson_blend
from hypersiren.inpaint.composite import BAND, BLENDS, Frame, choose_frame, hole_box, square_image
from hypersiren.inpaint.picture_completion import complete_picture
from hypersiren.masks import make_observed

SIZE = 16


@pytest.fixture(scope="module")
def model() -> HyperSiren:
    torch.manual_seed(0)
    return HyperSiren(HyperSirenConfig.tiny(image_size=SIZE)).eval()


def _noise(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _far_from(hole: np.ndarray, distance: int) -> np.ndarray:
    """``(H, W)`` bool: the pixels farther than ``distance`` (chessboard) from every True pixel of ``hole``."""
    near = torch.nn.functional.max_pool2d(torch.from_numpy(hole)[None, None].float(), 2 * distance + 1, 1, distance)
    return ~near[0, 0].bool().numpy()


@pytest.mark.parametrize("blend", BLENDS)
def test_picture_comes_back_at_its_size_untouched_beyond_the_band(model, blend):
    """The issue's target: a 600x400 photo comes back 600x400, bit-identical beyond the hole's blend band."""
    pixels = _noise(600, 400)
    hole = np.zeros((400, 600), bool)
    hole[150:210, 260:340] = True
    done = complete_picture(model, load_picture(pixels, SIZE, hole), render_size=2 * SIZE, blend=blend)
    assert done.picture.shape == (400, 600, 3) and done.picture.dtype == np.uint8
    changed = (done.picture != pixels).any(-1)
    assert not changed[_far_from(hole, BAND)].any(), "a pixel beyond the blend band changed"
    assert changed[hole].mean() > 0.99, "the hole was not completed"
    assert changed[~hole].any(), "the band blends the completion into the picture"
    assert np.array_equal(done.hole, hole), "the completed pixels are the marked ones"
    assert done.completed.shape == (1, 3, SIZE, SIZE) and done.rendered.shape == (1, 3, 2 * SIZE, 2 * SIZE)
    assert np.array_equal(
        complete_picture(model, load_picture(pixels, SIZE, hole), band=0, blend=blend).picture[~hole], pixels[~hole]
    ), "with no band, only the hole changes"


@pytest.mark.parametrize(("width", "height"), [(600, 400), (400, 600)])
def test_hole_near_an_edge_lands_where_drawn(model, width, height):
    """A hole outside the centred square: the model sees the square around it, and the hole lands there on both grids.

    The hole (32 wide, 64 tall, near the left / top edge) gets a 128-pixel square (twice its longer side), shifted
    inside the picture; 128 is 8 times the 16-pixel grid, so the hole has an exact image on it."""
    pixels = _noise(width, height, 1)
    top, left = (300, 8) if width > height else (8, 300)
    hole = np.zeros((height, width), bool)
    hole[top : top + 64, left : left + 32] = True
    picture = load_picture(pixels, SIZE, hole)
    box = (0, top - 32, 128, top + 96) if width > height else (left - 48, 0, left + 80, 128)
    assert picture.frame.kind == "hole" and picture.box == box, picture.frame
    assert any("square around the hole" in note for note in picture.notes) and picture.marked_outside == 0
    expected = torch.ones(SIZE, SIZE, dtype=torch.bool)
    r, c = (top - box[1]) // 8, (left - box[0]) // 8
    expected[r : r + 8, c : c + 4] = False
    assert torch.equal(picture.observed[0], expected), "the hole must land where it was drawn on the model's grid"
    square = torch.from_numpy(center_crop_resize(Image.fromarray(pixels).crop(box), SIZE).copy()).permute(2, 0, 1)
    assert torch.equal(picture.image, square), "the square is cropped and resized as the data protocol does"
    done = complete_picture(model, picture)
    changed = (done.picture != pixels).any(-1)
    assert changed[hole].all() and not changed[_far_from(hole, BAND)].any(), "the picture changed off the hole"


def test_the_hole_is_the_siren_at_the_pictures_own_pixels(model):
    """A 2S x 2S square picture: its hole's pixels are the model's own rendering at 2S (same coordinates)."""
    pixels = _noise(2 * SIZE, 2 * SIZE, 2)
    hole = np.zeros((2 * SIZE, 2 * SIZE), bool)
    hole[8:24, 4:20] = True
    picture = load_picture(pixels, SIZE, hole)
    done = complete_picture(model, picture, band=0, blend="linear")  # the completion pasted as it is
    context = torch.where(done.observed, done.image, 0.0)
    with torch.inference_mode():
        rendered = model.render(context, done.observed, 2 * SIZE, 2 * SIZE)  # (1, 3, 2S, 2S)
    expected = to_uint8(rendered[0]).permute(1, 2, 0).numpy()
    assert np.abs(done.picture[hole].astype(int) - expected[hole]).max() <= 1, "the hole is the SIREN at its pixels"


def test_preset_hole_on_the_models_grid_maps_into_the_picture(model):
    pixels = _noise(96, 64, 3)
    observed = make_observed("center", 1, SIZE, SIZE)  # the centre 8x8 of the grid: 32x32 of the 64x64 square
    done = complete_picture(model, load_picture(pixels, SIZE), observed)
    expected = np.zeros((64, 96), bool)
    expected[16:48, 32:64] = True
    assert np.array_equal(done.hole, expected), "the preset's missing model pixels, in the picture"
    changed = (done.picture != pixels).any(-1)
    assert changed[expected].mean() > 0.99 and not changed[_far_from(expected, BAND)].any()
    assert complete_picture(model, load_picture(pixels, SIZE).image, observed).picture is None, "square only"
    with pytest.raises(ValueError, match="no hole"):
        complete_picture(model, load_picture(pixels, SIZE))


def test_blend_weights_fade_across_the_band():
    hole = torch.zeros(11, 11, dtype=torch.bool)
    hole[5, 5] = True
    w = blend_weights(hole, 3)
    assert w[5, 5] == 1 and w[5, 6] == pytest.approx(0.75) and w[5, 8] == pytest.approx(0.25) and w[5, 9] == 0
    assert w[6, 6] == pytest.approx(1 - math.sqrt(2) / 4) and w[8, 8] == 0, "Euclidean distance, 0 beyond the band"
    assert torch.equal(blend_weights(hole, 0), hole.float())


def test_choose_frame():
    assert choose_frame(600, 400, None, 32) == Frame.from_box((100, 0, 500, 400), "centre")
    assert choose_frame(600, 400, (200, 100, 300, 200), 32).kind == "centre", "the centred square holds the hole"
    assert choose_frame(600, 400, (580, 390, 590, 395), 32) == Frame.from_box((568, 368, 600, 400), "hole")
    assert choose_frame(600, 400, (0, 0, 600, 10), 32) == Frame.from_box((100, 0, 500, 400), "hole"), "at most 400"
    assert hole_box(np.zeros((4, 4), bool)) is None
    with pytest.raises(ValueError, match="must be a square"):
        Frame.from_box((0, 0, 10, 12))


def test_turned_frame_maps_both_ways_and_resamples():
    frame = Frame((40.0, 30.0), 50.0, 0.3)
    uv = np.array([[-1.0, -1.0], [1.0, 0.5], [0.2, -0.7]])
    assert np.allclose(frame.to_square(frame.to_picture(uv)), uv)
    assert np.allclose(frame.to_picture(np.zeros(2)), (40, 30)) and frame.upright_box is None
    pixels = _noise(64, 64, 4)
    quarter = square_image(Image.fromarray(pixels), Frame((32.0, 32.0), 64.0, math.pi / 2), 64)
    assert np.abs(np.asarray(quarter).astype(int) - np.rot90(pixels).astype(int)).max() <= 1, "a quarter turn"
    points = Frame.from_box((0, 0, 4, 4)).points(np.array([0, 3]), np.array([1, 2]))
    assert torch.allclose(points, torch.tensor([[-0.75, -0.25], [0.75, 0.25]])), "(y, x) at the pixel centres"
    assert list(frame.contains(np.array([30, 0]), np.array([40, 0]))) == [True, False]


def _ramp(height: int, width: int, offset: float = 0.0) -> np.ndarray:
    """``(H, W, 3)`` on [0, 255]: a colour ramp, plus ``offset``."""
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    return np.stack([40 + 2 * xx, 60 + 1.5 * yy, 90 + xx - yy], -1) + offset


def test_poisson_blend_removes_an_offset_and_leaves_the_rest():
    """A fill whose gradients are the picture's, 50 grey levels brighter: Poisson blending gives back the picture
    itself (the offset is the seam it removes); nothing beyond the solved pixels moves."""
    picture = _ramp(24, 30)
    hole = np.zeros((24, 30), bool)
    hole[6:18, 8:22] = True
    solve = ~_far_from(hole, 2)  # the hole and 2 pixels around it
    out = poisson_blend(picture, picture + 50, solve, ~hole)
    assert np.abs(out - picture).max() < 0.01, "a constant offset leaves no trace"
    assert np.array_equal(out[~solve], picture[~solve]), "beyond the solved pixels, the picture exactly"
    with pytest.raises(ValueError, match="fill must be given"):
        poisson_blend(picture, np.full_like(picture, np.nan), solve, ~hole)


def test_poisson_blend_solves_the_discrete_poisson_equation():
    """Against a direct sparse solve of the same equations: the hole's Laplacian is the fill's, the band's the
    picture's, the values beyond them the picture's, a hole's pixel outside both adds no equation."""
    sparse = pytest.importorskip("scipy.sparse")
    linalg = pytest.importorskip("scipy.sparse.linalg")
    rng = np.random.default_rng(0)
    h, w = 20, 26
    picture, fill = rng.uniform(0, 255, (h, w, 3)), rng.uniform(0, 255, (h, w, 3))
    hole = np.zeros((h, w), bool)
    hole[4:15, 0:12] = True  # on the left edge: a free edge there
    solve = ~_far_from(hole, 1) & (np.arange(w) < 10)  # the hole's columns 10, 11 are not solved (no fill there)
    fill[~solve] = np.nan
    fill[~_far_from(solve, 1)] = rng.uniform(0, 255, (int((~_far_from(solve, 1)).sum()), 3))
    fill[hole & ~solve] = np.nan
    known = ~hole
    index = -np.ones((h, w), int)
    index[solve] = np.arange(solve.sum())
    a, b = sparse.lil_matrix((solve.sum(), solve.sum())), np.zeros((solve.sum(), 3))
    for i, j in zip(*np.nonzero(solve), strict=True):
        for y, x in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
            if not (0 <= y < h and 0 <= x < w) or not (solve[y, x] or known[y, x]):
                continue
            a[index[i, j], index[i, j]] += 1
            guide = picture[i, j] - picture[y, x] if known[i, j] and known[y, x] else fill[i, j] - fill[y, x]
            b[index[i, j]] += np.nan_to_num(guide)
            if solve[y, x]:
                a[index[i, j], index[y, x]] -= 1
            else:
                b[index[i, j]] += picture[y, x]
    expected = picture.copy()
    expected[solve] = linalg.spsolve(a.tocsc(), b)
    assert np.abs(poisson_blend(picture, fill, solve, known) - expected).max() < 0.01


def test_the_picture_path_blends_the_siren_at_the_pictures_own_pixels(model):
    """``blend="poisson"``: the composite is :func:`poisson_blend` of the picture and the model's own rendering at
    its pixels, over the hole and the pixels within ``BAND`` of it."""
    pixels = _noise(2 * SIZE, 2 * SIZE, 5)
    hole = np.zeros((2 * SIZE, 2 * SIZE), bool)
    hole[8:24, 6:20] = True
    done = complete_picture(model, load_picture(pixels, SIZE, hole), blend="poisson")
    context = torch.where(done.observed, done.image, 0.0)
    with torch.inference_mode():
        rendered = model.render(context, done.observed, 2 * SIZE, 2 * SIZE)  # (1, 3, 2S, 2S) on [-1, 1]
    fill = (rendered[0].clamp(-1, 1).permute(1, 2, 0).double().numpy() + 1) * 127.5  # (2S, 2S, 3) on [0, 255]
    solve = blend_weights(torch.from_numpy(hole), BAND).numpy() > 0
    expected = np.clip(np.round(poisson_blend(pixels, fill, solve, ~hole)), 0, 255)
    assert np.abs(done.picture.astype(int) - expected).max() <= 1, "the blend of the SIREN at the picture's pixels"
    assert np.array_equal(done.picture[~solve], pixels[~solve])


def test_an_unknown_blend_is_refused(model):
    pixels = _noise(32, 32)
    hole = np.zeros((32, 32), bool)
    hole[8:16, 8:16] = True
    with pytest.raises(ValueError, match="blend must be one of"):
        complete_picture(model, load_picture(pixels, SIZE, hole), blend="feather")
