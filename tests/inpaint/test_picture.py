"""One picture and its mask on the model's grid: the same square and resize for both, at any aspect ratio, any mode."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hypersiren
from hypersiren.data import DataError, center_crop_resize
from hypersiren.inpaint import align, check_hole, load_picture
from hypersiren.masks import MaskError, make_observed
from hypersiren.utils.extras import MissingExtraError

EXAMPLES_DIR = Path(hypersiren.__file__).parent / "assets" / "examples"  # public-domain pictures (not CelebA)


def _picture(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(("width", "height"), [(96, 64), (64, 96)])
def test_non_square_mask_lands_where_drawn(tmp_path, width, height):
    """A 96x64 (or 64x96) picture: its centred 64x64 square is 2x the 32x32 grid, so a drawn rectangle has an
    exact image on the grid."""
    left, top = (width - 64) // 2, (height - 64) // 2
    hole = np.zeros((height, width), np.uint8)
    hole[top + 8 : top + 24, left + 32 : left + 48] = 255  # white = missing: grid rows 4..11, columns 16..23
    Image.fromarray(_picture(width, height)).save(tmp_path / "p.png")
    Image.fromarray(hole).save(tmp_path / "m.png")
    loaded = load_picture(tmp_path / "p.png", 32, tmp_path / "m.png")
    expected = torch.ones(32, 32, dtype=torch.bool)
    expected[4:12, 16:24] = False
    assert torch.equal(loaded.observed[0], expected), "the hole must land on rows 4..11, columns 16..23"
    assert loaded.box == (left, top, left + 64, top + 64) and loaded.cropped and loaded.marked_outside == 0
    picture = torch.from_numpy(center_crop_resize(Image.open(tmp_path / "p.png"), 32).copy()).permute(2, 0, 1)
    assert torch.equal(loaded.image, picture), "the picture follows the data protocol"
    # the same file through make_observed('file') (eval/inpaint.py --mask_path with --data): the same grid
    assert torch.equal(make_observed("file", 1, 32, 32, path=tmp_path / "m.png")[0, 0], expected)


def test_mask_outside_the_square_is_reported_and_sizes_checked(tmp_path):
    corner = np.zeros((64, 96), np.uint8)
    corner[:10, :10] = 255  # the top-left corner of a 96x64 picture, cut off by the centre crop: the square around it
    loaded = load_picture(_picture(96, 64), 32, corner)
    assert loaded.box == (0, 0, 32, 32) and loaded.frame.kind == "hole" and loaded.marked_outside == 0
    assert (~loaded.observed).sum() == 100, "10x10 pixels at 1:1"
    band = np.zeros((64, 96), np.uint8)
    band[20:30, :] = 255  # wider than the shorter side: the largest square holds 64 of its 96 columns
    loaded = load_picture(_picture(96, 64), 32, band)
    assert loaded.box == (16, 0, 80, 64) and loaded.marked_outside == pytest.approx(1 / 3)
    half_size = load_picture(_picture(96, 64), 32, np.zeros((32, 48), bool))  # the aspect ratio is enough
    assert half_size.observed.all() and half_size.frame.kind == "centre"
    with pytest.raises(MaskError, match="mask is 64x64 but the picture is 96x64"):
        load_picture(_picture(96, 64), 32, np.zeros((64, 64), np.uint8))


def test_a_hole_that_vanishes_on_the_centred_grid_gets_a_smaller_square():
    speck = np.zeros((256, 256), bool)
    speck[100:102, 50:52] = True  # 2x2 pixels: 1/64 of a model pixel of the centred square
    loaded = load_picture(_picture(256, 256), 32, speck)
    assert loaded.frame.kind == "hole" and loaded.box == (35, 85, 67, 117) and (~loaded.observed).sum() == 4


def test_unreadable_inputs_and_bad_holes(tmp_path):
    (tmp_path / "bad.jpg").write_text("not a picture")
    with pytest.raises(DataError, match="cannot read picture"):
        load_picture(tmp_path / "bad.jpg", 32)
    with pytest.raises(MaskError, match="cannot read mask"):
        load_picture(_picture(32, 32), 32, tmp_path / "bad.jpg")
    with pytest.raises(MaskError, match="covers the whole picture"):
        check_hole(torch.zeros(1, 1, 8, 8, dtype=torch.bool))
    check_hole(make_observed("center", 1, 8, 8))
    faint = load_picture(_picture(64, 64), 32, np.full((64, 64), 100, np.uint8))  # nothing marked >= 128
    with pytest.raises(MaskError, match="hole is empty"):
        check_hole(faint.observed)


def _modes(tmp_path) -> list[tuple[str, object, np.ndarray]]:
    """(name, file or image, the RGB pixels it holds) for every kind of mode Pillow reads."""
    yy, xx = np.mgrid[0:24, 0:32]
    grey16 = (yy * 2000 + xx * 500).astype(np.uint16)  # 0..61500: Pillow's own conversion clips it to white
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    rgb = _picture(32, 24)
    grey8 = (yy * 10).astype(np.uint8)
    palette = Image.fromarray(rgb).quantize(16)
    palette.save(tmp_path / "palette.png")
    cmyk = Image.fromarray(rgb).convert("CMYK")
    cmyk.save(tmp_path / "cmyk.tif")
    la = np.stack([grey8, np.where(xx < 16, 255, 0).astype(np.uint8)], -1)  # right half transparent
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    Image.fromarray(grey8).save(tmp_path / "grey.png")
    return [
        (
            "16-bit grey",
            tmp_path / "grey16.png",
            np.repeat(((grey16.astype(int) * 255 + 32767) // 65535)[..., None].astype(np.uint8), 3, -1),
        ),
        ("palette", tmp_path / "palette.png", np.asarray(palette.convert("RGB"))),
        ("CMYK", tmp_path / "cmyk.tif", np.asarray(cmyk.convert("RGB"))),
        ("LA", tmp_path / "la.png", np.repeat(np.where(xx < 16, grey8, 255)[..., None], 3, -1).astype(np.uint8)),
        ("grey", tmp_path / "grey.png", np.repeat(grey8[..., None], 3, -1)),
        ("premultiplied LA", Image.fromarray(la, "LA").convert("La"), None),
    ]


def test_every_picture_mode_comes_in_with_its_values(tmp_path):
    for name, source, expected in _modes(tmp_path):
        loaded = load_picture(source, 32)
        assert loaded.pixels.shape == (24, 32, 3) and loaded.pixels.dtype == np.uint8, name
        if expected is not None:
            assert np.array_equal(loaded.pixels, expected), f"{name}: the picture's own values"
    assert load_picture(tmp_path / "grey16.png", 32).pixels.max() < 255, "a 16-bit picture is not white"
    mask16 = np.zeros((24, 32), np.uint16)
    mask16[4:12, 8:16] = 65535
    Image.fromarray(mask16).save(tmp_path / "mask16.png")
    assert load_picture(_picture(32, 24), 32, tmp_path / "mask16.png").missing.sum() == 64, "a 16-bit mask"
    Image.fromarray(np.ones((8, 8), np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(DataError, match="floating-point pictures"):
        load_picture(tmp_path / "float.tif", 32)
    rgba = np.dstack([_picture(32, 24), np.full((24, 32), 255, np.uint8)])
    assert np.array_equal(load_picture(rgba, 32).pixels, rgba[..., :3]), "an opaque pixel keeps its colour"


def test_alignment_without_opencv_or_a_face_goes_as_today(monkeypatch):
    plain = load_picture(_picture(96, 64), 32)

    def missing(pixels):
        raise MissingExtraError('cv2 is not installed; the [align] extra brings it: pip install "hypersiren[align]"')

    monkeypatch.setattr(align, "detect", missing)
    loaded = load_picture(_picture(96, 64), 32, align=True)
    assert torch.equal(loaded.image, plain.image) and loaded.frame == plain.frame
    assert "needs OpenCV" in loaded.notes[0] and "[align]" in loaded.notes[0] and len(loaded.notes) == 2
    monkeypatch.setattr(align, "detect", lambda pixels: None)
    assert load_picture(_picture(96, 64), 32, align=True).notes[0] == "no face found: the picture goes unaligned"


def test_alignment_puts_the_eyes_where_celeba_has_them():
    """A face whose eyes are CelebA's targets turned, scaled and moved: its frame maps them back onto the targets."""
    turn, scale, shift = complex(math.cos(0.2), math.sin(0.2)), 1.7, complex(120, 80)
    eyes = tuple((z.real, z.imag) for z in (turn * scale * complex(*e) + shift for e in align.CELEBA_EYES))
    middle = turn * scale * complex(*align.CELEBA_FACE[:2]) + shift
    box = (middle.real, middle.imag, scale * align.CELEBA_FACE[2])  # the face box, in the same place
    frame = align.frame(align.Face(box, eyes), "eyes")
    (cx, cy), side = align.CELEBA_SQUARE
    targets = (np.asarray(align.CELEBA_EYES) - (cx, cy)) / (side / 2)  # in the square's [-1, 1]
    assert np.allclose(frame.to_square(np.asarray(eyes)), targets) and frame.kind == "face"
    assert frame.side == pytest.approx(178 * 1.7) and frame.angle == pytest.approx(0.2)
    by_box = align.frame(align.Face((200.0, 150.0, 50.0), None))  # no eyes: the face box, upright
    assert by_box.angle == 0 and by_box.side == pytest.approx(178 * 50 / align.CELEBA_FACE[2])
    boxed, both = align.frame(align.Face(box, eyes), "box"), align.frame(align.Face(box, eyes), "both")
    assert both.side == pytest.approx((boxed.side + frame.side) / 2) and both.angle == frame.angle, "the mean square"
    assert np.allclose(both.centre, (np.asarray(boxed.centre) + frame.centre) / 2)
    with pytest.raises(ValueError, match="box, eyes or both"):
        align.frame(align.Face(box, eyes), "nose")


def test_alignment_finds_the_bundled_astronauts_face():
    pytest.importorskip("cv2")
    face = align.detect(np.asarray(Image.open(EXAMPLES_DIR / "astronaut.jpg").convert("RGB")))
    assert face is not None and face.eyes is not None, "a frontal face with both eyes"
    (x, y, side), ((lx, ly), (rx, ry)) = face.box, face.eyes
    assert lx < x < rx and max(ly, ry) < y and abs(ly - ry) < 0.1 * side, face
    hole = np.zeros((256, 256), bool)
    hole[int(y) : int(y) + 20, int(x) - 15 : int(x) + 15] = True
    loaded = load_picture(EXAMPLES_DIR / "astronaut.jpg", 32, hole, align=True)
    assert loaded.frame.kind == "face" and "placed by its eyes" in loaded.notes[0], loaded.notes
    assert loaded.within.all() or not loaded.observed[~loaded.within].any(), "beyond the picture: not observed"
    corner = np.zeros((256, 256), bool)
    corner[:6, :6] = True  # far from the face: unaligned
    loaded = load_picture(EXAMPLES_DIR / "astronaut.jpg", 32, corner, align=True)
    assert loaded.frame.kind == "hole" and "reaches beyond its square" in loaded.notes[0]


def test_square_picture_at_model_size_is_untouched():
    array = _picture(32, 32)
    loaded = load_picture(array, 32)
    assert torch.equal(loaded.image, torch.from_numpy(array).permute(2, 0, 1)) and loaded.observed is None
    assert not loaded.cropped
