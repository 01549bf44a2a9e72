"""The CelebA protocol's preprocessing and value range (SIREN supplement Sec. 9): one geometry for every picture.

Preprocessing: the centred square of the shorter side (178x178 of a 178x218 aligned image, 89x89 of the
89x109 half-size copy; offsets floor((side difference) / 2)), then a resize to ``image_size`` with PIL
``BILINEAR``, which is antialiased when downscaling (torchvision ``CenterCrop(178)`` + ``Resize`` on PIL
images). Deviation: the official code used Pillow's default filter of its time, NEAREST. A picture and its mask
go through the same :func:`crop_resize`, so they land on the same grid. Model values are float32 in [-1, 1]
(:func:`to_model_range`); stored images are uint8.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class DataError(ValueError):
    """A data source that is missing, unreachable, unusable or corrupt; the message names it."""


def to_model_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """Map uint8 images to float32 in [-1, 1].

    Args:
        images_uint8: ``(..., 3, H, W)`` uint8.

    Returns:
        ``(..., 3, H, W)`` float32, ``x / 127.5 - 1``.
    """
    return images_uint8.to(torch.float32) / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_model_range`, rounding to the nearest level and clipping to [0, 255].

    Args:
        images: ``(..., 3, H, W)`` float in [-1, 1].

    Returns:
        ``(..., 3, H, W)`` uint8.
    """
    return ((images.detach().to(torch.float32) + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def center_box(width: int, height: int, aspect: float = 1.0) -> tuple[int, int, int, int]:
    """The largest centred box of ``aspect`` = width / height inside a ``width x height`` picture.

    Returns:
        ``(left, top, right, bottom)`` in pixels; for ``aspect`` 1, the centred square of the shorter side.
    """
    box_w, box_h = (round(height * aspect), height) if width > height * aspect else (width, round(width / aspect))
    left, top = (width - box_w) // 2, (height - box_h) // 2
    return left, top, left + box_w, top + box_h


def crop_resize(image: Image.Image, height: int, width: int | None = None) -> Image.Image:
    """The pictures' geometry, for an image of any mode (RGB picture, grey mask): the centred box of the
    target's aspect ratio, then PIL BILINEAR (antialiased when downscaling) to ``height x width``.

    A picture and its mask given to this function land on the same grid, pixel for pixel.
    """
    width = height if width is None else width
    box = center_box(*image.size, aspect=width / height)
    if box != (0, 0, *image.size):
        image = image.crop(box)
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    return image


def center_crop_resize(image: Image.Image, image_size: int) -> np.ndarray:
    """Centred square of the shorter side, then PIL BILINEAR (antialiased) resize unless already that size.

    Returns:
        ``(image_size, image_size, 3)`` uint8.
    """
    return np.asarray(crop_resize(image.convert("RGB"), image_size), dtype=np.uint8)
