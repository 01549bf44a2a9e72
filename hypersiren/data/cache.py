"""Decode once, then memory-map: the faces of a lazily decoded source (the Hub's CelebA, a CelebA or image folder)
as a uint8 file on disk, so that a run starts at a GPU's pace instead of decoding 162,770 JPEGs.

Not in the paper or the official code (which decoded on the fly). The pixels are exactly those of the uncached
decode (:func:`hypersiren.data.images.center_crop_resize`); only where they live changes.

Layout: ``{root}/{key}/images.u8`` (raw uint8, C order, shape ``(N, 3, S, S)``, no header) and
``{root}/{key}/manifest.json`` (source, split, fingerprint, size, preprocessing and its version, N, dtype,
shape). ``root`` is ``$HYPERSIREN_CACHE`` or ``~/.cache/hypersiren/faces``; ``key`` is readable and unique:
``{source slug}-{split}-{S}px-{preprocessing}-v{version}-{hash of the source id}``.

Atomic: a cache is written into a hidden temporary folder beside its final name (``.{key}.tmp-{pid}-{random}``)
and renamed into place once its file is complete and flushed to disk; a reader only ever opens ``{root}/{key}``,
so a half-written cache (a killed run) is never read, and its leftovers are removed by the next build.

Concurrent: builders of one key take an exclusive ``flock`` on ``{root}/{key}.lock``; the first decodes, the
others wait and then read its result (training processes on one machine decode once and share the page cache).
Where ``flock`` is missing (Windows) every process decodes, the first rename wins and the others read the winner.

Stale or corrupt: a cache whose manifest disagrees with what is asked (another source fingerprint, N,
preprocessing version, size or layout) is stale and is rebuilt in place. A cache that cannot have come from
this writer (manifest unreadable, ``images.u8`` missing or of the wrong byte size) is corrupt: that is a
:class:`~hypersiren.data.images.DataError` naming the folder to delete, never a silent rebuild, since it points at
disk trouble or a hand-edited cache. A cache folder that cannot be written (read-only, no space) is logged and
the images are decoded in memory, as without a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
import torch
from tqdm.auto import tqdm

from hypersiren.data.images import DataError

try:
    import fcntl
except ImportError:  # Windows: no flock; the atomic rename alone keeps readers safe
    fcntl = None

logger = logging.getLogger(__name__)

CACHE_ENV = "HYPERSIREN_CACHE"
DEFAULT_CACHE = Path("~/.cache/hypersiren/faces")
# Bump the version whenever center_crop_resize changes its pixels: old caches then no longer match any key.
PREPROCESSING = "centre-square-bilinear"
PREPROCESSING_VERSION = 1
IMAGES_FILE, MANIFEST_FILE = "images.u8", "manifest.json"
_FORMAT = "hypersiren-faces-cache/1"


@dataclass(frozen=True)
class CacheKey:
    """What a cache holds: which images, at which size, through which preprocessing.

    Args:
        source: the source's id, e.g. ``hub:flwrlabs/celeba/img_align+identity+attr`` or ``folder:/abs/path``.
        split: ``train``, ``val`` or ``test``.
        image_size: side ``S`` of the stored images.
        fingerprint: the source's revision or content fingerprint (None: unknown); another one makes the
            cache stale.
    """

    source: str
    split: str
    image_size: int
    fingerprint: str | None = None

    @property
    def name(self) -> str:
        """The cache's folder name."""
        slug = re.sub(r"[^A-Za-z0-9.+-]+", "_", self.source).strip("_.")[-60:]
        digest = hashlib.sha256(self.source.encode()).hexdigest()[:12]
        return f"{slug}-{self.split}-{self.image_size}px-{PREPROCESSING}-v{PREPROCESSING_VERSION}-{digest}"

    def manifest(self, length: int) -> dict:
        """The manifest fields a cache of ``length`` images must have (a mismatch makes it stale)."""
        shape = [length, 3, self.image_size, self.image_size]
        return {
            "format": _FORMAT,
            "source": self.source,
            "split": self.split,
            "fingerprint": self.fingerprint,
            "image_size": self.image_size,
            "preprocessing": PREPROCESSING,
            "preprocessing_version": PREPROCESSING_VERSION,
            "length": length,
            "dtype": "uint8",
            "shape": shape,
        }


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$HYPERSIREN_CACHE``, else ``~/.cache/hypersiren/faces``."""
    return Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def read_cache(key: CacheKey, length: int, cache_dir: str | Path | None = None) -> torch.Tensor | None:
    """The cached images of ``key``, memory-mapped, or None when there is no cache or it is stale.

    Args:
        key: what is asked for.
        length: ``N``, the source's number of images.
        cache_dir: see :func:`cache_root`.

    Returns:
        ``(N, 3, S, S)`` uint8, a view of the file (no copy). The mapping is copy-on-write: writing to the
        tensor changes this process's pages only, never the file.

    Raises:
        DataError: a corrupt cache (unreadable manifest, missing file, wrong file size); the message names the
            folder to delete.
    """
    folder = cache_root(cache_dir) / key.name
    if not folder.is_dir():
        return None
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        shape = tuple(int(n) for n in manifest["shape"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"corrupt image cache {folder}: unreadable {MANIFEST_FILE} ({err}); delete the folder") from err
    images = folder / IMAGES_FILE
    size = images.stat().st_size if images.is_file() else None
    if size != int(np.prod(shape)):
        raise DataError(
            f"corrupt image cache {folder}: {IMAGES_FILE} has {size} bytes, its manifest's shape "
            f"{list(shape)} needs {int(np.prod(shape))}; delete the folder to rebuild it"
        )
    expected = key.manifest(length)
    stale = {k: (manifest.get(k), v) for k, v in expected.items() if manifest.get(k) != v}
    if stale:
        logger.info("image cache %s is stale (cached, wanted: %s)", folder, stale)
        return None
    if length == 0:
        return torch.empty(*shape, dtype=torch.uint8)  # numpy cannot map an empty file
    return torch.from_numpy(np.memmap(images, dtype=np.uint8, mode="c", shape=shape))


def cached_images(
    key: CacheKey, length: int, decode: Callable[[int], torch.Tensor], cache_dir: str | Path | None = None
) -> torch.Tensor:
    """Every image of a lazily decoded source, from its cache, decoding into the cache first if needed.

    Args:
        key: what the images are (see :class:`CacheKey`).
        length: ``N``, the source's number of images.
        decode: index -> ``(3, S, S)`` uint8, e.g. :meth:`hypersiren.data.LazyImageDataset.uint8`.
        cache_dir: see :func:`cache_root`.

    Returns:
        ``(N, 3, S, S)`` uint8, memory-mapped from ``{root}/{key.name}/images.u8`` (see :func:`read_cache`); in
        memory instead when the cache folder cannot be written (logged).

    Raises:
        DataError: a corrupt cache (see :func:`read_cache`), or an image that cannot be decoded.
    """
    root = cache_root(cache_dir)
    try:
        cached = read_cache(key, length, root)
    except DataError:
        cached = None  # perhaps a stale cache that another process is swapping: look again under the lock
    if cached is not None:
        return cached
    try:
        with _locked(root / f"{key.name}.lock"):
            cached = read_cache(key, length, root)  # another process may have built it while this one waited
            if cached is None:
                _build(key, length, decode, root)
                cached = read_cache(key, length, root)
    except _Unwritable as err:
        logger.warning("cannot write the image cache in %s (%s): decoding in memory; set $%s", root, err, CACHE_ENV)
        return _decode_all(key, length, decode)
    if cached is None:
        raise DataError(f"image cache {root / key.name} was replaced by another process's; run again")
    return cached


class _Unwritable(OSError):
    """The cache folder cannot be written, or has too little free space."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # closed by the `with` below, after the unlock
    except OSError as err:
        raise _Unwritable(str(err)) from err
    with handle:
        if fcntl is None:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another process building the image cache %s", path.with_suffix(""))
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _valid(key: CacheKey, length: int, root: Path) -> bool:
    try:
        return read_cache(key, length, root) is not None
    except DataError:
        return False


def _decode_all(key: CacheKey, length: int, decode: Callable[[int], torch.Tensor]) -> torch.Tensor:
    images = torch.empty(length, 3, key.image_size, key.image_size, dtype=torch.uint8)
    for i in tqdm(range(length), desc="decoding images", leave=False):
        images[i] = decode(i)
    return images


def _build(key: CacheKey, length: int, decode: Callable[[int], torch.Tensor], root: Path) -> None:
    final, manifest = root / key.name, key.manifest(length)
    if fcntl is not None:  # this process holds the lock: any temporary folder is a killed build's
        for leftover in root.glob(f".{key.name}.*"):
            shutil.rmtree(leftover, ignore_errors=True)
    nbytes, free = int(np.prod(manifest["shape"])), shutil.disk_usage(root).free
    if nbytes > free:
        raise _Unwritable(f"{nbytes / 2**30:.2f} GiB needed, {free / 2**30:.2f} GiB free")
    tmp = root / f".{key.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    try:
        try:
            tmp.mkdir()
            with open(tmp / IMAGES_FILE, "wb") as out:  # plain writes: a full disk is an OSError, not a SIGBUS
                _write_images(out, key.image_size, length, decode)
        except OSError as err:
            raise _Unwritable(str(err)) from err
        manifest |= {
            "pillow": PIL.__version__,
            "decode_seconds": round(time.perf_counter() - start, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with open(tmp / MANIFEST_FILE, "w") as out:
            out.write(json.dumps(manifest, indent=1) + "\n")
            out.flush()
            os.fsync(out.fileno())
        old = root / f".{key.name}.old-{uuid.uuid4().hex[:8]}"
        if final.exists():
            if _valid(key, length, root):  # without flock another process may have finished first: keep its cache
                return
            logger.warning("replacing the stale image cache %s", final)
            final.rename(old)  # readers that hold the old file keep their mapping of it
        try:
            tmp.rename(final)
        except OSError:
            if not final.is_dir():  # without flock another process may have renamed first: read its cache
                raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("cached %d images in %s (%.1f s)", length, final, manifest["decode_seconds"])


def _write_images(out, image_size: int, length: int, decode: Callable[[int], torch.Tensor], chunk: int = 1024) -> None:
    buffer = np.empty((min(chunk, length), 3, image_size, image_size), dtype=np.uint8)  # (B, 3, S, S)
    desc = f"decoding {length} images at {image_size}x{image_size} into the cache"
    with tqdm(total=length, desc=desc, unit="img", leave=False) as bar:
        for first in range(0, length, chunk):
            count = min(chunk, length - first)
            for j in range(count):
                buffer[j] = decode(first + j).numpy()
            out.write(memoryview(buffer[:count]))
            bar.update(count)
    out.flush()
    os.fsync(out.fileno())  # on disk before the rename makes it visible
