"""Rebuild ``demo32.npz`` from scikit-image's public-domain / CC0 sample images (run from anywhere).

Each image is a square crop (around the face where there is one, as CelebA's aligned crops are) resized
to 32x32 with PIL's antialiased BILINEAR filter, the filter of ``hypersiren.data``. Never CelebA.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

# name, skimage loader, (top, left, side) crop, mirror
CROPS = [
    ("astronaut", "astronaut", (20, 110, 200), False),
    ("astronaut_mirrored", "astronaut", (20, 110, 200), True),
    ("camera", "camera", (55, 135, 150), False),
    ("chelsea", "chelsea", (0, 90, 300), False),
    ("coffee", "coffee", (0, 100, 400), False),
    ("rocket", "rocket", (0, 150, 427), False),
]


def build(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    images, names = [], []
    for name, loader, (top, left, side), mirror in CROPS:
        array = getattr(skimage.data, loader)()
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=-1)
        crop = Image.fromarray(array[top : top + side, left : left + side, :3])
        crop = crop.resize((size, size), Image.BILINEAR)
        if mirror:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        images.append(np.asarray(crop, dtype=np.uint8))
        names.append(name)
    return np.stack(images), np.array(names)


if __name__ == "__main__":
    images, names = build()
    out = Path(__file__).with_name("demo32.npz")
    np.savez_compressed(out, images=images, names=names)
    Image.fromarray(np.concatenate(list(images), axis=1)).resize((32 * len(images) * 4, 128), Image.NEAREST).save(
        out.with_name("demo32_preview.png")
    )
    print(f"wrote {out}: {images.shape}")
