"""What one request of the demo page may cost: the page's :class:`Limits`, an upload read within them
(:func:`read_upload`), the blend its hole can afford (:func:`choose_blend`), and the page's editor, which hands
uploads to the request undecoded (:func:`pass_uploads_undecoded`).

An upload is read by :func:`read_upload`, never by Gradio: the header first (its size, before any pixel is
decoded), then a picture whose longer side exceeds ``max_side`` is reduced to it (a JPEG decoded directly at 1/2,
1/4 or 1/8 of its size by Pillow's ``draft``, then resized, Lanczos), one that would decode to more than
``max_pixels`` is refused before decoding, and one whose shorter side is under ``min_side`` is refused. The page
works on the reduced picture: the model sees its square, the completion is drawn at its pixels, and it comes back
at that size, with a note. A file Pillow cannot read (text named ``.png``, a truncated or empty file) is refused
with a message naming it. Every refusal is a :class:`hypersiren.data.images.DataError`, which the request turns
into the page's message.

The rest of a request's work grows with its hole's pixels in the picture, the Poisson blend's
(:func:`hypersiren.inpaint.blend.poisson_blend`) faster than their count: on one core (AMD EPYC, shared with a
training run, 2026-12-06) the shipped prior's request spent about 3.4 s blending a 181x181 hole, 7 s a 256x256 one,
and 4.5 s rendering the SIREN at 560,000 pixels for the linear fade. A hole of more than ``max_poisson_pixels``
(shared by a request's K samples) is therefore faded in linearly across its band instead.

Gradio's own editor opens every upload (the picture, each painted layer and their composite), converts it to RGBA
and re-encodes it as PNG at full size before the request starts: minutes and gigabytes for an 8000x6000 picture,
and an opaque "The upstream Gradio app has raised an exception" for a file it cannot open.
:func:`pass_uploads_undecoded` makes the page's editor skip that and pass the uploaded files on as they came.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from hypersiren.data.images import DataError
from hypersiren.inpaint.picture import open_image
from hypersiren.utils.extras import require


class Limits(NamedTuple):
    """The page's limits (``hypersiren-demo --max_side N --queue_size N --concurrency N``).

    Attributes:
        max_side: the longest side the page works at: a larger picture (and its painted layer) is reduced to it,
            which bounds decoding, the hole's pixels and the pictures sent back (the model sees a 32x32 or 64x64
            square whatever the picture's size).
        max_poisson_pixels: the largest hole, in the picture's pixels, blended by the Poisson solve; a larger one
            is blended linearly (a request's K samples share the budget).
        min_side: a picture whose shorter side (as worked) is smaller is refused.
        max_pixels: a file that would decode to more pixels (after a JPEG's reduced decoding) is refused before
            decoding: 2**26 (8192x8192) costs at most about 256 MB to decode (RGBA).
        max_file_mb: the largest upload Gradio accepts, in megabytes (``launch(max_file_size=...)``).
        queue_size: requests that may wait for a worker; beyond them Gradio answers "Queue is full" (a 503; the
            browser shows it, ``gradio_client`` raises ``QueueError``).
        concurrency: requests worked on at once: 2 lets a short request through beside a long one.
    """

    max_side: int = 1024
    max_poisson_pixels: int = 2**15
    min_side: int = 16
    max_pixels: int = 2**26
    max_file_mb: int = 100
    queue_size: int = 16
    concurrency: int = 2


LIMITS = Limits()


class Upload(NamedTuple):
    """A picture as the page works on it.

    Attributes:
        image: upright (EXIF orientation applied), its longer side at most ``max_side``; any mode.
        original_size: the upload's own upright ``(width, height)``.
    """

    image: Image.Image
    original_size: tuple[int, int]

    @property
    def reduced(self) -> bool:
        return self.image.size != self.original_size


def fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled down so that the longer side is at most ``max_side`` (unchanged if it is)."""
    width, height = size
    if max(width, height) <= max_side:
        return width, height
    k = max_side / max(width, height)
    return max(1, round(width * k)), max(1, round(height * k))


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` resized to :func:`fit` ``max_side`` (antialiased), upright; a new image either way."""
    target = fit(image.size, max_side)
    if target != image.size:
        if image.mode == "1" or image.mode in ("P", "PA"):  # Pillow resizes these nearest-neighbour: aliased
            transparent = image.mode == "PA" or "transparency" in image.info
            image = image.convert("L" if image.mode == "1" else "RGBA" if transparent else "RGB")
        image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)  # keeps ``info`` (EXIF)
    return ImageOps.exif_transpose(image)  # a copy when there is nothing to turn


def _decode(path: Path, what: str, limits: Limits) -> Upload:
    """A file read within ``limits``; see :func:`read_upload`."""
    name = path.name
    try:
        empty = path.stat().st_size == 0
    except OSError as err:
        raise DataError(f"cannot read the {what} {name}: {err.strerror or err}") from None
    if empty:
        raise DataError(f"the {what} {name} is an empty file: upload a picture (PNG, JPEG, WebP, ...)")
    try:
        with Image.open(path) as img:  # reads the header only
            size = img.size
            target = fit(size, limits.max_side)
            if img.format == "JPEG" and target != size:
                img.draft(None, target)  # decode at the smallest of 1/2, 1/4, 1/8 that is still >= target
            if img.width * img.height > limits.max_pixels:
                w, h = size
                raise DataError(
                    f"the {what} {name} is {w}x{h} = {w * h:,} pixels: this page reads at most "
                    f"{limits.max_pixels:,}; reduce it first"
                )
            img.load()
            orientation = img.getexif().get(0x0112, 1)  # EXIF orientation: 5..8 turn it a quarter
            image = _reduce(img, limits.max_side)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(
            f"the {what} {name} is not a picture this page can read (PNG, JPEG, WebP, GIF, BMP, TIFF, ...)"
        ) from None
    except Image.DecompressionBombError:
        raise DataError(
            f"the {what} {name} has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels: this page reads at "
            f"most {limits.max_pixels:,}; reduce it first"
        ) from None
    except Exception as err:  # noqa: BLE001 - Pillow raises many kinds for a damaged file: each is the same answer
        raise DataError(f"the {what} {name} is damaged or incomplete and cannot be read ({err})") from None
    upright = size[::-1] if orientation in (5, 6, 7, 8) else size
    return Upload(image, upright)


def read_upload(source: Any, what: str = "picture", limits: Limits = LIMITS) -> Upload:
    """A picture (or painted layer) as the page works on it: read within ``limits``, reduced to ``max_side``.

    Args:
        source: a path (an upload), PIL image or ``(H, W[, C])`` uint8 array.
        what: what it is, for the messages (``picture``, ``painted layer``).
        limits: the page's :class:`Limits` (``min_side`` is the caller's to check: a layer has the picture's size).

    Returns:
        An :class:`Upload`.

    Raises:
        DataError: an empty file, a file that is not a picture Pillow reads, a damaged or truncated one, one of
            more than ``max_pixels`` pixels.
    """
    if isinstance(source, str | Path):
        return _decode(Path(source).expanduser(), what, limits)
    image = open_image(source, what)  # already in memory: upright, its size as given
    return Upload(_reduce(image, limits.max_side), image.size)


def check_side(upload: Upload, limits: Limits, what: str = "picture") -> None:
    """Refuse a picture whose shorter side (as worked) is under ``limits.min_side``.

    Raises:
        DataError: naming its size.
    """
    if min(upload.image.size) < limits.min_side:
        (w, h), (ow, oh) = upload.image.size, upload.original_size
        reduced = f" (reduced from {ow}x{oh})" if upload.reduced else ""
        raise DataError(
            f"the {what} is {w}x{h}{reduced}: this page needs at least {limits.min_side} pixels on its shorter side"
        )


def reduction_note(upload: Upload, limits: Limits) -> str | None:
    """The page's note on a reduced picture, or None."""
    if not upload.reduced:
        return None
    (ow, oh), (w, h) = upload.original_size, upload.image.size
    return (
        f"Your {ow}x{oh} picture is worked on at {w}x{h} (this page's limit: {limits.max_side} pixels on the "
        f"longer side): the completed picture comes back at that size."
    )


def alpha_of(upload: Upload) -> np.ndarray:
    """A painted layer's alpha, ``(H, W)`` uint8 (255 = painted); an opaque layer is all 255."""
    return np.asarray(upload.image.convert("RGBA"), dtype=np.uint8)[..., 3]


def choose_blend(hole_pixels: int, limits: Limits = LIMITS, pictures: int = 1) -> tuple[str, str | None]:
    """The blend a hole of ``hole_pixels`` can afford (:data:`hypersiren.inpaint.composite.BLENDS`), and a note
    when it is not the default Poisson blend.

    Args:
        hole_pixels: the hole's pixels in the picture as worked on.
        pictures: the pictures completed (K samples share ``max_poisson_pixels``).
    """
    budget = limits.max_poisson_pixels // max(1, pictures)
    if hole_pixels <= budget:
        return "poisson", None
    each = " per sample" if pictures > 1 else ""
    return "linear", (
        f"The hole covers about {hole_pixels:,} of the picture's pixels, more than the {budget:,}{each} "
        f"this page blends seamlessly (a Poisson solve, whose cost grows faster than the hole): its "
        f"edge is faded linearly instead."
    )


def pass_uploads_undecoded(editor):
    """Make a ``gr.ImageMask`` hand the request its uploads as files, undecoded (its value's pictures are paths).

    Gradio's own preprocessing would open, convert and re-encode each one at full size. The method is replaced on
    the instance: a subclass of a Gradio component would have Gradio write a ``.pyi`` file beside this module.

    Returns:
        ``editor``.
    """
    if not callable(getattr(editor, "convert_and_format_image", None)):  # a Gradio that no longer has the hook
        raise RuntimeError(
            f"gradio {require('gradio', 'demo').__version__}: the image editor has no "
            f"convert_and_format_image to replace; pin gradio to a 6.x release"
        )

    def convert_and_format_image(file, flatten_on_white: bool = False) -> str | None:
        if file is None:
            return None
        if isinstance(file, bytes | bytearray | memoryview):  # the browser's canvas, sent as a blob
            folder = Path(tempfile.mkdtemp(prefix="upload-", dir=editor.GRADIO_CACHE))
            path = folder / f"image.{editor.format or 'png'}"
            path.write_bytes(bytes(file))
            return str(path)
        return str(file.path)  # Gradio checked that it lies in its upload folder

    editor.convert_and_format_image = convert_and_format_image
    return editor
