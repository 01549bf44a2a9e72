"""Loading and saving the single signals SIREN fits (paper Sec. 4.1; official ``dataio.py``).

Images, audio and video come back as float tensors with values in [-1, 1] (the package convention):
images ``(C, H, W)``, audio ``(N, C)`` scaled by its peak magnitude as the official
``ImplicitAudioWrapper`` does, video ``(T, C, H, W)``. Every bad input (missing file, a file that is
not the expected kind, an unsupported channel count or size) raises :class:`SignalError` with one clear
sentence, so scripts can report it without a traceback.

:func:`load_signal` gives any of them as a point set (coordinates and values, :class:`Signal`), as the fitting
script fits it, and :func:`save_signal` writes a prediction back in the signal's own format.

Deviations from the official code: images that are not square are centre-cropped to a square before
resizing (the official code assumed square inputs); videos are centre-cropped to the requested size
rather than resized, which keeps the native detail of the clip.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from hypersiren.siren.coords import grid, image_to_points, points_to_image
from hypersiren.utils.extras import require

logger = logging.getLogger(__name__)


class SignalError(ValueError):
    """A signal file or array that cannot be used."""


def _require_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SignalError(f"file not found: {path}")
    return path


def _to_unit_range(array: np.ndarray) -> np.ndarray:
    """uint8/uint16 -> [0, 1]; floats are taken as already in [0, 1]."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(array.dtype, np.floating):
        return np.clip(array.astype(np.float32), 0.0, 1.0)
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    raise SignalError(f"unsupported pixel type {array.dtype}")


def _channels_last(array: np.ndarray, what: str) -> np.ndarray:
    """``(..., H, W)`` or ``(..., H, W, C)`` -> ``(..., H, W, C)`` with C in {1, 3} (alpha dropped)."""
    if array.ndim == 2 or (array.ndim == 3 and what == "video"):
        array = array[..., None]
    channels = array.shape[-1]
    if channels == 4:
        logger.info("dropping the alpha channel of the %s", what)
        array = array[..., :3]
    elif channels not in (1, 3):
        raise SignalError(f"unsupported channel count {channels} for the {what}: expected 1 (gray) or 3 (RGB)")
    return array


def image_from_array(array: np.ndarray, size: int | None = None) -> torch.Tensor:
    """An ``(H, W)`` or ``(H, W, C)`` array -> ``(C, S, S)`` in [-1, 1].

    Args:
        array: gray, RGB or RGBA pixels, integer or float in [0, 1].
        size: side of the square output; the image is centre-cropped to a square, then resized with
            bilinear filtering (antialiased when shrinking). None keeps the original pixels.
    """
    if array.ndim not in (2, 3):
        raise SignalError(f"expected an image of shape (H, W) or (H, W, C), got {tuple(array.shape)}")
    array = _channels_last(_to_unit_range(array), "image")  # (H, W, C) in [0, 1]
    h, w, c = array.shape
    if size is not None:
        if size < 2:
            raise SignalError(f"image size must be at least 2, got {size}")
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        array = array[top : top + side, left : left + side]
        if side != size:
            planes = [Image.fromarray(array[..., k], mode="F").resize((size, size), Image.BILINEAR) for k in range(c)]
            array = np.stack([np.asarray(p) for p in planes], axis=-1)
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float()  # (C, H, W)
    return (tensor.clamp(0, 1) * 2 - 1).contiguous()


def load_image(path: str | Path | None = None, size: int | None = None) -> torch.Tensor:
    """Read an image file (or scikit-image's bundled ``camera`` when ``path`` is None).

    Returns:
        ``(C, S, S)`` with C = 1 (gray) or 3 (RGB), values in [-1, 1].
    """
    if path is None:
        return image_from_array(require("skimage.data", "fit").camera(), size)
    path = _require_file(path)
    if path.suffix.lower() == ".npy":
        array = np.load(path)
    else:
        try:
            with Image.open(path) as img:
                array = np.asarray(img.convert("RGBA") if img.mode in ("P", "PA") else img)
        except (OSError, SyntaxError, ValueError) as err:
            raise SignalError(f"{path} is not a readable image ({err.__class__.__name__}: {err})") from None
    return image_from_array(array, size)


def save_image(path: str | Path, image: torch.Tensor) -> None:
    """Write ``(C, H, W)`` values in [-1, 1] as an 8-bit PNG (values clipped)."""
    array = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)


def load_audio(path: str | Path, seconds: float | None = None) -> tuple[torch.Tensor, int, float]:
    """Read a WAV file, keep the first ``seconds``, scale by its peak to [-1, 1].

    Returns:
        ``(samples (N, C), rate, scale)`` where the file's values are ``samples * scale``.
    """
    wavfile = require("scipy.io.wavfile", "fit")
    path = _require_file(path)
    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError) as err:
        raise SignalError(f"{path} is not a readable WAV file ({err})") from None
    data = data[:, None] if data.ndim == 1 else data  # (N, C)
    if data.shape[1] not in (1, 2):
        raise SignalError(f"unsupported channel count {data.shape[1]} in {path}: expected mono or stereo")
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    data = data.astype(np.float32)
    if seconds is not None:
        if seconds <= 0:
            raise SignalError(f"seconds must be positive, got {seconds}")
        data = data[: max(2, int(round(seconds * rate)))]
    if len(data) < 2:
        raise SignalError(f"{path} holds fewer than 2 samples")
    scale = float(np.abs(data).max()) or 1.0
    return torch.from_numpy(data / scale), int(rate), scale


def save_audio(path: str | Path, samples: torch.Tensor, rate: int, scale: float = 1.0) -> None:
    """Write ``(N, C)`` samples (times ``scale``) as a float32 WAV."""
    wavfile = require("scipy.io.wavfile", "fit")
    data = (samples.detach().float().clamp(-1, 1) * scale).cpu().numpy()
    wavfile.write(path, rate, data[:, 0] if data.shape[1] == 1 else data)


def _parse_size(size: str | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None or isinstance(size, tuple):
        return size
    try:
        h, w = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise SignalError(f"video size must look like HxW (e.g. 64x96), got {size!r}") from None
    if h < 1 or w < 1:
        raise SignalError(f"video size must be positive, got {size!r}")
    return h, w


def load_video(path: str | Path, frames: int | None = None, size: str | tuple[int, int] | None = None) -> torch.Tensor:
    """Read the first ``frames`` frames of an MP4 (any format ffmpeg decodes) or a ``(T, H, W[, C])`` .npy.

    Args:
        size: ``"HxW"`` or ``(H, W)``: a centred crop of every frame; None keeps the full frame.

    Returns:
        ``(T, C, H, W)`` in [-1, 1].
    """
    path = _require_file(path)
    hw = _parse_size(size)
    if frames is not None and frames < 1:
        raise SignalError(f"frames must be at least 1, got {frames}")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path)
        except ValueError as err:
            raise SignalError(f"{path} is not a readable .npy array ({err})") from None
        array = array[:frames]
    else:
        iio = require("imageio.v3", "fit")
        require("imageio_ffmpeg", "fit")  # the MP4 decoder

        try:
            stack = []
            for frame in iio.imiter(path):
                stack.append(frame)
                if frames is not None and len(stack) >= frames:
                    break
        except Exception as err:  # imageio raises many types for undecodable files
            raise SignalError(f"{path} is not a readable video ({err.__class__.__name__})") from None
        if not stack:
            raise SignalError(f"{path} holds no video frames")
        array = np.stack(stack)
    if array.ndim not in (3, 4):
        raise SignalError(f"expected video frames of shape (T, H, W[, C]), got {tuple(array.shape)}")
    array = _channels_last(_to_unit_range(array), "video")  # (T, H, W, C)
    t, h, w, c = array.shape
    if hw is not None:
        if hw[0] > h or hw[1] > w:
            raise SignalError(f"crop {hw[0]}x{hw[1]} is larger than the {h}x{w} frames")
        top, left = (h - hw[0]) // 2, (w - hw[1]) // 2
        array = array[:, top : top + hw[0], left : left + hw[1]]
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float()  # (T, C, H, W)
    return tensor * 2 - 1


class Signal(NamedTuple):
    """One signal as a point set.

    Attributes:
        kind: ``image``, ``audio`` or ``video``.
        coords: ``(N, D)`` in [-1, 1] (:func:`hypersiren.siren.coords.grid` of ``shape``).
        values: ``(N, C)`` in [-1, 1].
        shape: the grid: ``(H, W)``, ``(N,)`` or ``(T, H, W)``.
        rate: audio samples per second.
        scale: audio peak magnitude (the file's values are ``values * scale``).
    """

    kind: str
    coords: torch.Tensor
    values: torch.Tensor
    shape: tuple[int, ...]
    rate: int | None = None
    scale: float = 1.0


def load_signal(
    kind: str,
    path: str | Path | None = None,
    *,
    size: str | int | None = None,
    seconds: float | None = None,
    frames: int | None = None,
) -> Signal:
    """:func:`load_image` (``path`` None: the camera), :func:`load_audio` or :func:`load_video` as a point set.

    Args:
        size: image: the side; video: ``"HxW"``.
    """
    if kind == "image":
        img = load_image(path, None if size is None else int(size))  # (C, H, W)
        return Signal(kind, grid(*img.shape[1:]), image_to_points(img[None])[0], tuple(img.shape[1:]))
    if kind == "audio":
        samples, rate, scale = load_audio(path, seconds)  # (N, C)
        return Signal(kind, grid(len(samples)), samples, (len(samples),), rate, scale)
    if kind != "video":
        raise SignalError(f"unknown signal kind {kind!r}: image, audio or video")
    vid = load_video(path, frames, size)  # (T, C, H, W)
    t, c, h, w = vid.shape
    return Signal(kind, grid(t, h, w), vid.permute(0, 2, 3, 1).reshape(t * h * w, c), (t, h, w))  # grid order


def save_signal(signal: Signal, values: torch.Tensor, path: str | Path) -> Path:
    """Write ``values`` ``(N, C)`` on ``signal``'s grid as ``path`` + ``.png`` / ``.wav`` / ``.npy`` (video
    frames ``(T, H, W, C)`` uint8); returns the file."""
    path = Path(path).with_suffix({"image": ".png", "audio": ".wav", "video": ".npy"}[signal.kind])
    if signal.kind == "image":
        save_image(path, points_to_image(values[None], *signal.shape)[0])
    elif signal.kind == "audio":
        save_audio(path, values, signal.rate, signal.scale)
    else:
        frames = ((values.clamp(-1, 1) + 1) * 127.5).round().byte().reshape(*signal.shape, -1)  # (T, H, W, C)
        np.save(path, frames.cpu().numpy())
    return path
