"""A picture read for the model: any size and mode, its hole, and the square the model sees of it (reading only;
completing it is :mod:`hypersiren.inpaint.picture_completion`).

The picture goes through the data protocol of :mod:`hypersiren.data.celeba` (SIREN supplement Sec. 9: CelebA faces
are cropped to a square, then resized): a square of the picture (a :class:`~hypersiren.inpaint.composite.Frame`:
the centred square of its shorter side by default, the square around the hole where that one does not hold it, or
with ``align`` the face's square framed as CelebA's, :mod:`hypersiren.inpaint.align`), then the antialiased
bilinear resize to the model's side. Its mask (white, or painted, = missing) goes through the identical square and
resize (:func:`hypersiren.masks.kinds.on_grid`) and is thresholded on the model's grid, so the hole lands where it
was drawn whatever the picture's aspect ratio. The picture itself, at its own size, is kept for the completion
to be pasted back into (:mod:`hypersiren.inpaint.composite`). Every mode Pillow reads comes in as 8-bit RGB with
its own values (16-bit levels scaled, a palette looked up, CMYK converted, transparency flattened onto white), or
is refused with a message naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from hypersiren.data.images import DataError
from hypersiren.inpaint import align as face_align
from hypersiren.inpaint.composite import Frame, around, choose_frame, hole_box, square_image
from hypersiren.masks.kinds import MaskError, on_grid
from hypersiren.utils.extras import MissingExtraError

ImageLike = str | Path | Image.Image | np.ndarray
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # grey levels 0..65535 (PNG, TIFF)
FILL = (127, 127, 127)  # a square reaching beyond the picture: these pixels are not observed


class Picture(NamedTuple):
    """A picture (and its hole) on the model's ``S x S`` grid, and at its own ``W x H`` size.

    Attributes:
        image: ``(3, S, S)`` uint8, the square the model sees.
        observed: ``(1, S, S)`` bool, True = known; None when no mask was given.
        source_size: the picture's ``(width, height)``.
        box: the model's square, ``(left, top, right, bottom)`` in the picture's pixels (a turned square's
            bounding box, which may reach beyond the picture).
        marked_outside: the fraction of the marked (missing) area that lay outside the square and is ignored.
        pixels: ``(H, W, 3)`` uint8, the picture as it came in (RGB).
        missing: ``(H, W)`` bool, the marked pixels (grey level >= 128); None when no mask was given.
        frame: where the square lies (:class:`~hypersiren.inpaint.composite.Frame`; ``kind`` says why there).
        within: ``(1, S, S)`` bool, the model's pixels inside the picture (all of them unless a face's square
            reaches beyond an edge); the others are never observed.
        notes: what a user should know about the square (the crop, the alignment or why there was none).
    """

    image: torch.Tensor
    observed: torch.Tensor | None
    source_size: tuple[int, int]
    box: tuple[int, int, int, int]
    marked_outside: float
    pixels: np.ndarray
    missing: np.ndarray | None
    frame: Frame
    within: torch.Tensor
    notes: tuple[str, ...] = ()

    @property
    def cropped(self) -> bool:
        """Whether the model sees less than the whole picture."""
        return self.box != (0, 0, *self.source_size)


def open_image(source: ImageLike, what: str = "picture") -> Image.Image:
    """A path, PIL image or ``(H, W[, C])`` uint8 array as a PIL image, upright (EXIF orientation applied).

    Raises:
        DataError: the file is missing, not an image Pillow can read, damaged or truncated, or larger than Pillow's
            decompression-bomb limit (twice ``PIL.Image.MAX_IMAGE_PIXELS``); the message names it. The demo page
            reads its uploads within tighter limits (:func:`hypersiren.app.uploads.read_upload`).
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
    # a damaged file raises any of these (a broken PNG chunk: SyntaxError; a cut-off GIF: EOFError)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        raise DataError(f"cannot read {what} {path}: {err}") from None


def _eight_bit(image: Image.Image, what: str) -> Image.Image:
    """16-bit grey levels scaled to 8 bits (Pillow's own conversion clips them at 255: a white picture)."""
    if image.mode in SIXTEEN_BIT:
        levels = np.asarray(image).astype(np.int64)  # (H, W)
        low, high = (int(levels.min()), int(levels.max())) if levels.size else (0, 0)
        if low < 0 or high > 65535:
            raise DataError(
                f"{what}: its {image.mode} grey levels span {low}..{high}, beyond 16 bits; save it as an "
                f"8- or 16-bit picture"
            )
        return Image.fromarray(((levels * 255 + 32767) // 65535).astype(np.uint8), "L")
    if image.mode == "F":
        raise DataError(
            f"{what}: 32-bit floating-point pictures have no fixed range of values; save it as an 8- or 16-bit picture"
        )
    if image.mode in ("La", "RGBa"):  # premultiplied alpha
        return image.convert(image.mode.upper())
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def to_rgb(image: Image.Image, what: str = "picture", background: int = 255) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: 16-bit levels scaled, palettes looked up, CMYK converted, transparency
    flattened onto ``background`` (a grey level; an opaque pixel keeps its colour exactly).

    Raises:
        DataError: a mode without a fixed range (32-bit float) or one Pillow cannot convert.
    """
    image = _eight_bit(image, what)
    try:
        if _has_alpha(image):
            flat = Image.new("RGBA", image.size, (background, background, background, 255))
            flat.alpha_composite(image.convert("RGBA"))
            return flat.convert("RGB")
        return image.convert("RGB")
    except ValueError as err:
        raise DataError(f"{what}: cannot convert its mode {image.mode} to RGB ({err})") from None


def _marks(missing: ImageLike, size: tuple[int, int]) -> Image.Image:
    """The mask as grey levels at the picture's size (255 = missing; transparent = not marked)."""
    if isinstance(missing, np.ndarray) and missing.dtype == bool:
        missing = missing.astype(np.uint8) * 255
    try:
        grey = to_rgb(open_image(missing, "mask"), "mask", background=0).convert("L")
    except DataError as err:
        raise MaskError(str(err)) from None
    if grey.size != size:
        (w, h), (mw, mh) = size, grey.size
        if abs(mw / mh - w / h) > 0.01 * w / h:
            raise MaskError(
                f"the mask is {mw}x{mh} but the picture is {w}x{h}: a mask must have the picture's size "
                f"(or at least its aspect ratio)"
            )
        grey = grey.resize(size, Image.BILINEAR)
    return grey


def _describe(frame: Frame, size: tuple[int, int], image_size: int) -> str | None:
    (w, h), (left, top, right, bottom), s = size, frame.box, image_size
    if frame.kind == "centre":
        if (w, h) == (right - left, bottom - top):
            return None
        return (
            f"the {w}x{h} picture is centre-cropped to its middle {right - left}x{bottom - top} square "
            f"(x {left}..{right}, y {top}..{bottom}), like the faces the model learnt from, and resized to "
            f"{s}x{s}"
        )
    if frame.kind == "hole":
        return (
            f"the model sees the {right - left}x{bottom - top} square around the hole (x {left}..{right}, y {top}.."
            f"{bottom}) of the {w}x{h} picture, resized to {s}x{s}"
        )
    if frame.kind == "face":
        degrees = np.degrees(frame.angle)
        turn = f"turned {degrees:.1f} degrees" if abs(degrees) >= 0.05 else "upright"
        side = f"a {frame.side:.0f}-pixel square around it"
        return f"the face is framed as CelebA's faces are: {side}, {turn}, resized to {s}x{s}"
    return f"the model sees the given square (x {left}..{right}, y {top}..{bottom}), resized to {s}x{s}"


def _face(pixels: np.ndarray, missing: np.ndarray | None) -> tuple[Frame | None, str]:
    """The face's square (or None) and a line on what became of the alignment."""
    try:
        face = face_align.detect(pixels)
    except (MissingExtraError, ImportError) as err:
        return None, f"face alignment needs OpenCV 4, so the picture goes unaligned: {err}"
    if face is None:
        return None, "no face found: the picture goes unaligned"
    frame = face_align.frame(face)
    if missing is not None and not frame.contains(*np.nonzero(missing)).all():
        return None, "a face was found, but the hole reaches beyond its square: the picture goes unaligned"
    return frame, f"a face was found and placed by {'its eyes' if face.eyes else 'its box (no pair of eyes found)'}"


def _on_grid(picture: Image.Image, grey: Image.Image | None, frame: Frame, size: int):
    """The frame's square of the picture and of its mask on the model's grid: image, observed, within."""
    image = np.asarray(square_image(picture, frame, size, FILL), dtype=np.uint8)  # (S, S, 3)
    tensor = torch.from_numpy(image.copy()).permute(2, 0, 1)  # (H, W, 3) -> (3, H, W)
    box = frame.upright_box
    if box is not None and box[0] >= 0 and box[1] >= 0 and box[2] <= picture.width and box[3] <= picture.height:
        within = torch.ones(1, size, size, dtype=torch.bool)
    else:  # a model pixel lies within the picture where at least half of it does
        within = ~on_grid(square_image(Image.new("L", picture.size, 255), frame, size, 0), size, size)[None]
    if grey is None:
        return tensor, None, within
    return tensor, on_grid(square_image(grey, frame, size, 0), size, size)[None] & within, within


def load_picture(
    image: ImageLike,
    image_size: int,
    missing: ImageLike | None = None,
    *,
    frame: Frame | None = None,
    align: bool = False,
) -> Picture:
    """A picture and its optional mask, both through the same square and resize to ``image_size``.

    Args:
        image: the picture (path, PIL image or uint8 array); any size, any mode (see :func:`to_rgb`).
        image_size: the model's side ``S``.
        missing: the mask, the picture's size (or its aspect ratio): grey levels or a bool array,
            white / True / opaque = missing. A painted layer's alpha channel is such a grey image.
        frame: the model's square in the picture; None: chosen (see the module docstring).
        align: look for a face and frame it as CelebA's faces are (needs OpenCV, the ``[align]`` extra); without
            OpenCV, without a face, or with a hole beyond the face's square the square is chosen as without it,
            and :attr:`Picture.notes` says why.

    Returns:
        A :class:`Picture`.

    Raises:
        DataError: the picture cannot be read.
        MaskError: the mask cannot be read, or its aspect ratio is not the picture's.
    """
    picture = to_rgb(open_image(image))
    pixels, size = np.array(picture, dtype=np.uint8), picture.size  # (H, W, 3), writable
    grey = None if missing is None else _marks(missing, size)
    marks = None if grey is None else np.asarray(grey, dtype=np.float64)  # (H, W), 255 = missing
    hole = None if marks is None else marks >= 128
    notes = []
    if frame is None and align:
        frame, note = _face(pixels, hole)
        notes.append(note)
    if frame is None:
        frame = choose_frame(*size, hole_box(hole) if hole is not None else None, image_size)
    tensor, observed, within = _on_grid(picture, grey, frame, image_size)
    if frame.kind == "centre" and observed is not None and bool(observed.all()) and hole.any():
        frame = around(hole_box(hole), *size, image_size)  # the hole vanishes on the centred square's grid
        tensor, observed, within = _on_grid(picture, grey, frame, image_size)
    if (line := _describe(frame, size, image_size)) is not None:
        notes.append(line)
    outside = 0.0
    if marks is not None and (total := marks.sum()) > 0:
        rows, cols = np.nonzero(marks)
        outside = float(1.0 - marks[rows, cols][frame.contains(rows, cols)].sum() / total)
    return Picture(tensor, observed, size, frame.box, outside, pixels, hole, frame, within, tuple(notes))


def check_hole(observed: torch.Tensor) -> None:
    """Refuse a mask that leaves nothing to complete or nothing to complete from.

    Args:
        observed: ``(..., H, W)`` bool, True = known.

    Raises:
        MaskError: no pixel is missing on the model's grid, or none is observed.
    """
    h, w = observed.shape[-2:]
    if bool(observed.all()):
        raise MaskError(
            f"the hole is empty on the model's {h}x{w} grid: mark at least about half of a model pixel "
            f"(1/{h} of the square's side) as missing"
        )
    if not bool(observed.any()):
        raise MaskError("the hole covers the whole picture: leave some of it observed to complete from")
