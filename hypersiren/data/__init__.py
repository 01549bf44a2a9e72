"""Faces and pictures in: the CelebA protocol's preprocessing and the data sources behind ``--data``.

- :mod:`~hypersiren.data.images`: the protocol's geometry (centred square, antialiased resize) and value range.
- :mod:`~hypersiren.data.celeba`: :func:`celeba_dataset`: the Hub, a CelebA folder, ``{split}.npz`` files, any image
  folder.
- :mod:`~hypersiren.data.cache`: the lazily decoded sources (the Hub, folders) decoded once into a memory-mapped
  uint8 cache (``$HYPERSIREN_CACHE``), atomic and locked.

May import: utils.
"""

from hypersiren.data.celeba import (
    DEFAULT_HUB_ID,
    ArrayDataset,
    LazyImageDataset,
    all_images,
    celeba_dataset,
    source_side,
)
from hypersiren.data.images import IMAGE_SUFFIXES, DataError, center_crop_resize, crop_resize, to_model_range, to_uint8

__all__ = [
    "DEFAULT_HUB_ID",
    "IMAGE_SUFFIXES",
    "ArrayDataset",
    "DataError",
    "LazyImageDataset",
    "all_images",
    "celeba_dataset",
    "center_crop_resize",
    "crop_resize",
    "source_side",
    "to_model_range",
    "to_uint8",
]


def __getattr__(name: str) -> object:  # the names of the 0.1 module of this name, for one release
    from hypersiren._moved import old_name

    return old_name(__name__, name)
