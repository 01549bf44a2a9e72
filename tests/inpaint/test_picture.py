"""One picture and its mask on the model's grid: the same crop and resize for both, at any aspect ratio."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hypersiren.data import DataError, center_crop_resize
from hypersiren.inpaint import check_hole, load_picture
from hypersiren.masks import MaskError, make_observed


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


def test_mask_outside_the_crop_is_reported_and_sizes_checked(tmp_path):
    hole = np.zeros((64, 96), np.uint8)
    hole[:10, :10] = 255  # the top-left corner of a 96x64 picture: cut off by the centre crop
    loaded = load_picture(_picture(96, 64), 32, hole)
    assert loaded.marked_outside == 1.0 and loaded.observed.all()
    with pytest.raises(MaskError, match="hole is empty"):
        check_hole(loaded.observed)
    half_size = load_picture(_picture(96, 64), 32, np.zeros((32, 48), bool))  # the aspect ratio is enough
    assert half_size.observed.all()
    with pytest.raises(MaskError, match="mask is 64x64 but the picture is 96x64"):
        load_picture(_picture(96, 64), 32, np.zeros((64, 64), np.uint8))


def test_unreadable_inputs_and_bad_holes(tmp_path):
    (tmp_path / "bad.jpg").write_text("not a picture")
    with pytest.raises(DataError, match="cannot read picture"):
        load_picture(tmp_path / "bad.jpg", 32)
    with pytest.raises(MaskError, match="cannot read mask"):
        load_picture(_picture(32, 32), 32, tmp_path / "bad.jpg")
    with pytest.raises(MaskError, match="covers the whole picture"):
        check_hole(torch.zeros(1, 1, 8, 8, dtype=torch.bool))
    check_hole(make_observed("center", 1, 8, 8))


def test_square_picture_at_model_size_is_untouched():
    array = _picture(32, 32)
    loaded = load_picture(array, 32)
    assert torch.equal(loaded.image, torch.from_numpy(array).permute(2, 0, 1)) and loaded.observed is None
    assert not loaded.cropped
