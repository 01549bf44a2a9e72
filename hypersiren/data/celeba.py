"""CelebA for the SIREN prior (SIREN supplement Sec. 9, "CelebA" protocol): where the faces come from.

Sources, decided from ``data`` (see :func:`celeba_dataset`):

- a Hugging Face Hub id (default ``flwrlabs/celeba``, config ``img_align+identity+attr``, column ``image``);
- a torchvision-style folder: ``root/img_align_celeba/*.jpg`` + ``root/list_eval_partition.txt`` (or ``.txt.gz``)
  with lines ``000001.jpg 0`` (0 = train, 1 = val, 2 = test); the ``img_align_celeba`` folder itself also works;
- a folder of ``{split}.npz`` files, or one ``.npz`` file: ``images`` uint8 ``(N, H, W, 3)``, optional ``ids``;
- any other folder of images: all images below it, recursively, sorted by path. If it has a subfolder named
  after the split (``train``, ``val``/``valid``/``validation``, ``test``), only that subfolder is used;
  otherwise the split is ignored and every split returns the same images.

Every source goes through the protocol's preprocessing (:mod:`hypersiren.data.images`: centre square, antialiased
resize); arrays already at ``image_size`` skip the resize. Items are ``(3, H, W)`` float32 in [-1, 1].
The lazily decoded sources (the Hub, folders) are decoded once into a memory-mapped cache by :func:`all_images`
(:mod:`hypersiren.data.cache`); npz sources are arrays already.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from hypersiren.data.cache import CacheKey, cached_images, read_cache
from hypersiren.data.images import IMAGE_SUFFIXES, DataError, center_crop_resize, to_model_range

logger = logging.getLogger(__name__)

DEFAULT_HUB_ID = "flwrlabs/celeba"
DEFAULT_HUB_CONFIG = "img_align+identity+attr"
# the Hub dataset's columns after `image` (Image) and `celeb_id` (int64): its 40 attributes (bool), in this order
HUB_ATTRIBUTES = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young",
]  # fmt: skip
_SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
# an npz folder's file names for each split (``train_hires``: the train faces that exist at full resolution, as in
# shared/data/celeba128)
_SPLIT_NAMES = {"train": ("train", "train_hires"), "val": ("val", "valid", "validation"), "test": ("test",)}
_PARTITION_CODE = {"train": "0", "val": "1", "test": "2"}
_HUB_SPLIT = {"train": "train", "val": "valid", "test": "test"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class MissingSplit(DataError):
    """A folder of ``{split}.npz`` files without the split asked for."""


class ArrayDataset(Dataset):
    """Images held in memory; ``images`` lets training index whole batches without per-item Python work.

    Args:
        images: ``(N, 3, H, W)`` uint8.
        ids: ``(N,)`` integer ids (CelebA ids where known), or None for ``0..N-1``.
    """

    def __init__(self, images: torch.Tensor, ids: torch.Tensor | None = None) -> None:
        self.images = images
        self.has_ids = ids is not None  # real ids, by which other copies of the same faces are matched
        self.ids = torch.arange(len(images)) if ids is None else ids

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_model_range(self.images[index])  # (3, H, W)


class LazyImageDataset(Dataset):
    """Decodes, crops and resizes one PIL image per item (folders, the Hub).

    Args:
        get_image: index -> PIL image.
        length: number of images.
        image_size: output side.
        name: the source, for error messages.
        cache_key: where :func:`all_images` caches the decoded images (:mod:`hypersiren.data.cache`); None: it
            decodes them in memory each time.
    """

    def __init__(
        self,
        get_image: Callable[[int], Image.Image],
        length: int,
        image_size: int,
        name: str,
        cache_key: CacheKey | None = None,
    ) -> None:
        self.get_image, self.length, self.image_size, self.name = get_image, length, image_size, name
        self.cache_key = cache_key

    def __len__(self) -> int:
        return self.length

    def uint8(self, index: int) -> torch.Tensor:
        """Returns: ``(3, H, W)`` uint8."""
        try:
            array = center_crop_resize(self.get_image(index), self.image_size)
        except (OSError, ValueError) as err:  # IndexError passes through: DataLoader iteration relies on it
            raise DataError(f"cannot decode image {index} of {self.name}: {err}") from err
        return torch.from_numpy(array.copy()).permute(2, 0, 1)  # (H, W, 3) -> (3, H, W)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_model_range(self.uint8(index))  # (3, H, W)


def all_images(dataset: Dataset) -> torch.Tensor:
    """Every image of a :func:`celeba_dataset` as one uint8 tensor ``(N, 3, S, S)``: array sources hold it
    already; lazily decoded ones (folders, the Hub) are decoded once into the cache (``$HYPERSIREN_CACHE``, see
    :mod:`hypersiren.data.cache`) and memory-mapped from it on every later call, without a copy."""
    if isinstance(dataset, ArrayDataset):
        return dataset.images
    if getattr(dataset, "cache_key", None) is not None:
        return cached_images(dataset.cache_key, len(dataset), dataset.uint8)
    images = [dataset.uint8(i) for i in tqdm(range(len(dataset)), desc="decoding images", leave=False)]
    side = dataset.image_size
    return torch.stack(images) if images else torch.empty(0, 3, side, side, dtype=torch.uint8)


def _first_images(dataset: LazyImageDataset, count: int) -> torch.Tensor:
    """The first ``count`` images ``(count, 3, S, S)`` uint8: a view of the source's cache when a complete one
    exists, else those images alone, decoded (and not cached: a limit is for short runs)."""
    count = min(count, len(dataset))
    if dataset.cache_key is not None and (cached := read_cache(dataset.cache_key, len(dataset))) is not None:
        return cached[:count]
    images = [dataset.uint8(i) for i in range(count)]
    side = dataset.image_size
    return torch.stack(images) if images else torch.empty(0, 3, side, side, dtype=torch.uint8)


def _files_fingerprint(root: Path, files: list[Path]) -> str:
    """Names, sizes and modification times of ``files`` (below ``root``): another fingerprint, a stale cache."""
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _array_dataset(images: np.ndarray, ids: np.ndarray | None, image_size: int | None, name: str) -> ArrayDataset:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise DataError(f"{name}: expected `images` uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    if image_size is None:  # the arrays' own side (square arrays only: nothing to crop)
        if images.shape[1] != images.shape[2]:
            raise DataError(f"{name}: images of {images.shape[1]}x{images.shape[2]} are not square: give a side")
        image_size = images.shape[1]
    if images.shape[1:3] != (image_size, image_size):
        images = np.stack([center_crop_resize(Image.fromarray(a), image_size) for a in images])
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)
    return ArrayDataset(tensor, None if ids is None else torch.from_numpy(np.asarray(ids)))


def _load_npz(path: Path, image_size: int | None, limit: int | None) -> ArrayDataset:
    try:
        with np.load(path) as arrays:
            if "images" not in arrays.files:
                raise DataError(f"{path}: no `images` array (found {arrays.files})")
            images = arrays["images"][:limit]
            ids = arrays["ids"][:limit] if "ids" in arrays.files else None
    except DataError:
        raise
    except Exception as err:  # np.load raises BadZipFile, OSError, ValueError, EOFError, pickle errors
        raise DataError(f"cannot read npz file {path}: {err}") from err
    return _array_dataset(images, ids, image_size, str(path))


def _partition_file(folder: Path) -> Path | None:
    return next(
        (p for p in (folder / "list_eval_partition.txt", folder / "list_eval_partition.txt.gz") if p.is_file()), None
    )


def _celeba_folder(image_dir: Path, partition: Path, split: str) -> list[Path]:
    with (gzip.open if partition.suffix == ".gz" else open)(partition, "rt") as lines:
        rows = [line.split() for line in lines if line.strip()]
    if any(len(row) != 2 for row in rows):
        raise DataError(f"{partition}: expected lines like `000001.jpg 0`")
    names = [name for name, code in rows if code == _PARTITION_CODE[split]]
    present = {p.name for p in image_dir.iterdir()}
    kept = [image_dir / name for name in names if name in present]  # partial copies of CelebA are common
    if not kept:
        raise DataError(f"{image_dir}: none of the {len(names)} {split} images listed in {partition} is present")
    logger.info("%s: %d of %d %s images present", image_dir, len(kept), len(names), split)
    return kept


def _image_files(folder: Path, split: str) -> list[Path]:
    for name in _SPLIT_NAMES[split]:
        if (folder / name).is_dir():
            folder = folder / name
            break
    else:
        logger.info("%s: no %s subfolder, so the split is ignored: using every image", folder, split)
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _local_dataset(path: Path, split: str, image_size: int | None, limit: int | None) -> Dataset:
    if path.is_file():
        if path.suffix != ".npz":
            raise DataError(f"{path} is a file but not an .npz array file")
        return _load_npz(path, image_size, limit)
    npz = [path / f"{name}.npz" for names in _SPLIT_NAMES.values() for name in names]
    if any(p.is_file() for p in npz):
        for name in _SPLIT_NAMES[split]:
            if (path / f"{name}.npz").is_file():
                return _load_npz(path / f"{name}.npz", image_size, limit)
        found = sorted(p.name for p in npz if p.is_file())
        raise MissingSplit(f"{path}: no npz file for split {split!r} (found {found})")
    if (path / "img_align_celeba").is_dir() and _partition_file(path):
        files = _celeba_folder(path / "img_align_celeba", _partition_file(path), split)
    elif _partition_file(path.parent):
        files = _celeba_folder(path, _partition_file(path.parent), split)
    else:
        files = _image_files(path, split)
    if not files:
        raise DataError(f"{path}: no npz files, CelebA partition file or images found")
    if image_size is None:
        raise DataError(f"{path}: a folder of images has no side of its own: give image_size")
    key = CacheKey(f"folder:{path.resolve()}", split, image_size, _files_fingerprint(path, files))
    return LazyImageDataset(lambda i: Image.open(files[i]), len(files), image_size, str(path), key)


def _hub_dataset(hub_id: str, split: str, image_size: int) -> Dataset:
    import datasets  # looked up at call time so tests can monkeypatch `datasets.load_dataset`

    config = DEFAULT_HUB_CONFIG if hub_id == DEFAULT_HUB_ID else None
    try:
        table = datasets.load_dataset(hub_id, config, split=_HUB_SPLIT[split])
        if "image" not in table.column_names:
            raise DataError(f"hub dataset {hub_id!r} has no `image` column (found {table.column_names})")
    except DataError:
        raise
    except Exception as err:  # datasets / huggingface_hub / HTTP errors have no common base class
        raise DataError(
            f"cannot load hub dataset {hub_id!r} (config {config}, split {_HUB_SPLIT[split]!r}): {err}. "
            f"The Hub may be unreachable (offline?): pass a local path instead, e.g. a folder of {{split}}.npz "
            f"or a CelebA root with img_align_celeba/ and list_eval_partition.txt (no local path {hub_id!r} exists)"
        ) from err
    # the fingerprint follows the Hub revision and the files datasets read (stable across runs)
    key = CacheKey(
        f"hub:{hub_id}" + (f"/{config}" if config else ""), split, image_size, getattr(table, "_fingerprint", None)
    )
    images = table.select_columns(["image"])  # formatting the 41 other columns of a row cost a third of the decode
    return LazyImageDataset(lambda i: images[i]["image"], len(table), image_size, f"hub:{hub_id}", key)


def source_side(data: str, split: str = "train") -> int | None:
    """The side of a data source's images where it has one of its own (an npz of square images, read from its
    header without loading the arrays), else None (folders and the Hub are resized to any side)."""
    path = Path(data).expanduser()
    if path.is_dir():
        path = next(
            (
                path / f"{n}.npz"
                for n in _SPLIT_NAMES.get(_SPLITS.get(split, split), ())
                if (path / f"{n}.npz").is_file()
            ),
            path,
        )
    if not (path.is_file() and path.suffix == ".npz"):
        return None
    try:
        with zipfile.ZipFile(path) as archive, archive.open("images.npy") as member:
            major, _ = np.lib.format.read_magic(member)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape = read(member)[0]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None  # the loader names the problem
    return int(shape[1]) if len(shape) == 4 and shape[1] == shape[2] else None


def celeba_dataset(
    data: str = DEFAULT_HUB_ID, split: str = "train", image_size: int | None = 32, limit: int | None = None
) -> Dataset:
    """CelebA (or any image source) centre-cropped and resized, as a map-style dataset.

    Args:
        data: an existing path (npz file, folder of ``{split}.npz``, CelebA folder, image folder) or a Hub id
            ``owner/name``; see the module docstring.
        split: ``train``, ``val`` or ``test`` (``valid`` and ``validation`` mean ``val``).
        image_size: output side ``S``; None: an array source's own side (npz files of square images; another
            source raises).
        limit: keep only the first ``limit`` images. With a limit, lazily decoded sources are materialised: the
            first ``limit`` rows of the source's cache when a complete one exists (a view), else only those
            images are decoded (and not cached).

    Returns:
        A dataset of ``(3, S, S)`` float32 items in [-1, 1]. Array-backed results (npz sources, and any
        source given a ``limit``) are :class:`ArrayDataset` with ``.images`` uint8 ``(N, 3, S, S)``.

    Raises:
        DataError: unknown split, missing path, unusable folder, corrupt file or unreachable Hub.
    """
    if split not in _SPLITS:
        raise DataError(f"unknown split {split!r}: expected one of {sorted(_SPLITS)}")
    if (image_size is not None and image_size < 1) or (limit is not None and limit < 0):
        raise DataError(f"image_size must be >= 1 and limit >= 0, got {image_size} and {limit}")
    split = _SPLITS[split]
    path = Path(data).expanduser()
    if path.exists():
        dataset = _local_dataset(path, split, image_size, limit)
    elif _HUB_ID.match(str(data)):
        if image_size is None:
            raise DataError(f"hub dataset {data!r}: its images have no side of their own: give image_size")
        dataset = _hub_dataset(str(data), split, image_size)
    else:
        raise DataError(f"data source {str(data)!r} does not exist and is not a Hub id of the form owner/name")
    if isinstance(dataset, LazyImageDataset) and limit is not None:
        dataset = ArrayDataset(_first_images(dataset, limit))
    side = dataset.images.shape[-1] if isinstance(dataset, ArrayDataset) else image_size
    logger.info("%s split %s: %d images at %dx%d", data, split, len(dataset), side, side)
    return dataset
