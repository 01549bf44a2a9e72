"""One picture of any size and its hole, on the model's grid (``eval/inpaint.py --image`` and the demo page).

The picture goes through the data protocol of :mod:`hypersiren.data.celeba` (SIREN supplement Sec. 9: CelebA faces
are centre-cropped to a square, then resized): the centred square of its shorter side, then an antialiased
bilinear resize to the model's side. Its mask (white, or painted, = missing) goes through the identical crop
and resize (:func:`hypersiren.masks.kinds.on_grid`) and is thresholded on the model's grid, so the hole lands
where it was drawn whatever the picture's aspect ratio. What the crop cuts off is reported, not silently lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from hypersiren.data.images import DataError, center_box, center_crop_resize
from hypersiren.masks.kinds import MaskError, on_grid

ImageLike = str | Path | Image.Image | np.ndarray


class Picture(NamedTuple):
    """A picture (and its hole) on the model's ``S x S`` grid.

    Attributes:
        image: ``(3, S, S)`` uint8.
        observed: ``(1, S, S)`` bool, True = known; None when no mask was given.
        source_size: the picture's ``(width, height)`` before the crop.
        box: the centred square kept, ``(left, top, right, bottom)`` in the picture's pixels.
        marked_outside: the fraction of the marked (missing) area that lay outside ``box`` and is ignored.
    """

    image: torch.Tensor
    observed: torch.Tensor | None
    source_size: tuple[int, int]
    box: tuple[int, int, int, int]
    marked_outside: float

    @property
    def cropped(self) -> bool:
        """Whether the picture was not square (so its sides were cut off)."""
        return self.box != (0, 0, *self.source_size)


def open_image(source: ImageLike, what: str = "picture") -> Image.Image:
    """A path, PIL image or ``(H, W[, C])`` uint8 array as a PIL image, upright (EXIF orientation applied).

    Raises:
        DataError: the file is missing or not an image Pillow can read (the message names it).
    """
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim not in (2, 3):
            raise DataError(f"{what}: expected a uint8 (H, W) or (H, W, C) array, got {source.dtype} {source.shape}")
        return Image.fromarray(source)
    if isinstance(source, Image.Image):
        return ImageOps.exif_transpose(source)
    path = Path(source).expanduser()
    try:
        with Image.open(path) as img:
            img.load()
            return ImageOps.exif_transpose(img)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataError(f"cannot read {what} {path}: {err}") from None


def load_picture(image: ImageLike, image_size: int, missing: ImageLike | None = None) -> Picture:
    """A picture and its optional mask, both through the same centre crop and resize to ``image_size``.

    Args:
        image: the picture (path, PIL image or uint8 array); any size, any mode (converted to RGB).
        image_size: the model's side ``S``.
        missing: the mask, the picture's size (or its aspect ratio): grey levels or a bool array,
            white / True / opaque = missing. A painted layer's alpha channel is such a grey image.

    Returns:
        A :class:`Picture`.

    Raises:
        DataError: the picture cannot be read.
        MaskError: the mask cannot be read, or its aspect ratio is not the picture's.
    """
    picture = open_image(image)
    size = picture.size
    box = center_box(*size)
    array = center_crop_resize(picture, image_size)  # (S, S, 3)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)  # (H, W, 3) -> (3, H, W)
    if missing is None:
        return Picture(tensor, None, size, box, 0.0)
    if isinstance(missing, np.ndarray) and missing.dtype == bool:
        missing = missing.astype(np.uint8) * 255
    try:
        grey = open_image(missing, "mask").convert("L")
    except DataError as err:
        raise MaskError(str(err)) from None
    if grey.size != size:
        (w, h), (mw, mh) = size, grey.size
        if abs(mw / mh - w / h) > 0.01 * w / h:
            raise MaskError(f"the mask is {mw}x{mh} but the picture is {w}x{h}: a mask must have the picture's size "
                            f"(or at least its aspect ratio)")  # fmt: skip
        grey = grey.resize(size, Image.BILINEAR)
    marks = np.asarray(grey, dtype=np.float64)  # (H, W), 255 = missing
    left, top, right, bottom = box
    total = marks.sum()
    outside = 0.0 if total == 0 else 1.0 - marks[top:bottom, left:right].sum() / total
    observed = on_grid(grey, image_size, image_size)[None]  # (1, S, S)
    return Picture(tensor, observed, size, box, float(outside))


def check_hole(observed: torch.Tensor) -> None:
    """Refuse a mask that leaves nothing to complete or nothing to complete from.

    Args:
        observed: ``(..., H, W)`` bool, True = known.

    Raises:
        MaskError: no pixel is missing on the model's grid, or none is observed.
    """
    h, w = observed.shape[-2:]
    if bool(observed.all()):
        raise MaskError(f"the hole is empty on the model's {h}x{w} grid: mark at least about half of a model pixel "
                        f"(1/{h} of the picture's side) as missing")  # fmt: skip
    if not bool(observed.any()):
        raise MaskError("the hole covers the whole picture: leave some of it observed to complete from")
