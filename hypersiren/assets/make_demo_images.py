"""Rebuild ``demo32.npz`` and ``examples/*.jpg`` from scikit-image's public-domain / CC0 sample images.

Each image is a square crop (around the face where there is one, as CelebA's aligned crops are) resized
to 32x32 with PIL's antialiased BILINEAR filter, the filter of ``hypersiren.data.images``. Never CelebA. The demo
page's examples (``hypersiren.app.demo``) are the same crops at 256x256, large enough to paint a hole on.
Run from anywhere.
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


EXAMPLES = ("astronaut", "camera", "chelsea", "coffee", "rocket")  # the demo page's, at 256x256


def build(size: int = 32, names_kept: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    images, names = [], []
    for name, loader, (top, left, side), mirror in CROPS:
        if names_kept is not None and name not in names_kept:
            continue
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
    examples = out.with_name("examples")
    examples.mkdir(exist_ok=True)
    for image, name in zip(*build(256, EXAMPLES), strict=True):
        Image.fromarray(image).save(examples / f"{name}.jpg", quality=95)
    print(f"wrote {len(EXAMPLES)} examples to {examples}")
