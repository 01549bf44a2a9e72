"""The decode-once image cache, offline: a tiny Hub dataset in flwrlabs/celeba's own schema (parquet files of its
``img_align+identity+attr`` config, read by the real ``datasets`` parquet loader) and a CelebA folder."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hypersiren.data import DEFAULT_HUB_ID, DataError, all_images, celeba_dataset
from hypersiren.data import cache as cache_mod
from hypersiren.data import celeba as data_mod
from hypersiren.data.celeba import HUB_ATTRIBUTES

CONFIG = "img_align+identity+attr"
ATTRIBUTES = HUB_ATTRIBUTES
# rows per Hub split, in shards named as on the Hub (train-00000-of-00002.parquet, ...)
SPLITS = {"train": (4, 3), "valid": (3,), "test": (2,)}


def jpeg(seed: int, width: int = 44, height: int = 54) -> bytes:
    """A noisy non-square JPEG (the crop and the resize both matter), as the Hub stores CelebA: file bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def write_hub_parquet(root: Path) -> Path:
    """flwrlabs/celeba's layout and schema: ``{config}/{split}-0000k-of-0000n.parquet``, the columns ``image`` (the
    datasets Image feature: JPEG bytes + file name), ``celeb_id`` and the 40 attributes."""
    import datasets

    features = datasets.Features(
        {"image": datasets.Image(), "celeb_id": datasets.Value("int64")}
        | {name: datasets.Value("bool") for name in ATTRIBUTES}
    )
    row = 0
    for split, shards in SPLITS.items():
        for k, count in enumerate(shards):
            ids = range(row + 1, row + count + 1)
            columns = {
                "image": [{"bytes": jpeg(i), "path": f"{i:06d}.jpg"} for i in ids],
                "celeb_id": [i % 3 for i in ids],
            }
            columns |= {name: [(i + j) % 2 == 0 for i in ids] for j, name in enumerate(ATTRIBUTES)}
            (root / CONFIG).mkdir(parents=True, exist_ok=True)
            path = root / CONFIG / f"{split}-{k:05d}-of-{len(shards):05d}.parquet"
            datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))
            row += count
    return root


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The default Hub id resolves to the local parquet files through datasets' own parquet loader; the cache goes
    to tmp_path. Returns the list of load_dataset calls."""
    import datasets

    root, real_load, calls = write_hub_parquet(tmp_path / "hub"), datasets.load_dataset, []

    def load_dataset(hub_id: str, config: str | None, split: str) -> datasets.Dataset:
        calls.append((hub_id, config, split))
        assert (hub_id, config) == (DEFAULT_HUB_ID, CONFIG), "the Hub id and config celeba_dataset asks for"
        files = sorted(str(p) for p in (root / config).glob(f"{split}-*.parquet"))
        return real_load("parquet", data_files={split: files}, split=split, cache_dir=str(tmp_path / "hf"))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setenv(cache_mod.CACHE_ENV, str(tmp_path / "cache"))
    return calls


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the images the sources decode (one list entry per image)."""
    counted, real = [], data_mod.center_crop_resize

    def counting(image: Image.Image, image_size: int) -> np.ndarray:
        counted.append(image_size)
        return real(image, image_size)

    monkeypatch.setattr(data_mod, "center_crop_resize", counting)
    return counted


def cache_folders(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "cache").iterdir() if p.is_dir())


def test_hub_schema_cache_equals_the_uncached_decode_and_is_reused(hub, decodes, tmp_path: Path) -> None:
    lazy = celeba_dataset(split="train", image_size=16)
    assert isinstance(lazy, data_mod.LazyImageDataset) and len(lazy) == 7, "two train shards of 4 and 3 rows"
    uncached = torch.stack([lazy.uint8(i) for i in range(len(lazy))])  # (7, 3, 16, 16)
    decodes.clear()
    first = all_images(lazy)
    assert len(decodes) == 7, f"the first call decodes each image once, decoded {len(decodes)}"
    assert first.dtype == torch.uint8 and torch.equal(first, uncached), "cached pixels == the uncached decode"
    (folder,) = cache_folders(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"] == f"hub:{DEFAULT_HUB_ID}/{CONFIG}" and manifest["split"] == "train"
    assert manifest["shape"] == [7, 3, 16, 16] and manifest["dtype"] == "uint8" and manifest["fingerprint"]
    assert (folder / "images.u8").stat().st_size == 7 * 3 * 16 * 16, "raw uint8, no header"

    decodes.clear()
    second = all_images(celeba_dataset(split="train", image_size=16))  # a new run: datasets loads the files again
    assert decodes == [], f"the second run decoded {len(decodes)} images instead of reading the cache"
    assert torch.equal(second, uncached) and len(hub) == 2
    idx = torch.tensor([6, 0, 3])
    assert torch.equal(second[idx], uncached[idx]), "training's batch indexing"
    second[0] = 0  # copy-on-write: this process's pages only
    assert torch.equal(all_images(celeba_dataset(split="train", image_size=16)), uncached), "the file is untouched"
    limited = celeba_dataset(split="train", image_size=16, limit=3)
    assert torch.equal(limited.images, uncached[:3]) and decodes == [], "a limit reads the first N of the cache"

    val = all_images(celeba_dataset(split="val", image_size=8))
    assert val.shape == (3, 3, 8, 8) and hub[-1] == (DEFAULT_HUB_ID, CONFIG, "valid")
    assert len(cache_folders(tmp_path)) == 2, "one cache per (source, split, size, preprocessing)"


def test_a_limit_without_a_cache_decodes_only_those_images(hub, decodes, tmp_path: Path) -> None:
    limited = celeba_dataset(split="test", image_size=16, limit=1)
    assert limited.images.shape == (1, 3, 16, 16) and len(decodes) == 1, "only the first image is decoded"
    assert not (tmp_path / "cache").exists(), "nothing is cached for a limited run"


def test_truncated_or_garbled_cache_is_a_data_error(hub, tmp_path: Path) -> None:
    all_images(celeba_dataset(split="test", image_size=16))
    (folder,) = cache_folders(tmp_path)
    with open(folder / "images.u8", "r+b") as file:
        file.truncate(2 * 3 * 16 * 16 - 5)
    with pytest.raises(DataError, match=r"corrupt image cache .*1531 bytes.*needs 1536.*delete the folder"):
        all_images(celeba_dataset(split="test", image_size=16))
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match=r"corrupt image cache .*unreadable manifest.json"):
        celeba_dataset(split="test", image_size=16, limit=1)


def test_a_stale_cache_is_rebuilt(hub, decodes, tmp_path: Path) -> None:
    expected = all_images(celeba_dataset(split="test", image_size=16)).clone()
    (folder,) = cache_folders(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(manifest | {"fingerprint": "another revision"}))
    decodes.clear()
    assert torch.equal(all_images(celeba_dataset(split="test", image_size=16)), expected)
    assert len(decodes) == 2, "another fingerprint: the cache is decoded again"
    assert json.loads((folder / "manifest.json").read_text())["fingerprint"] == manifest["fingerprint"]


def test_folder_source_is_cached_and_a_changed_file_makes_it_stale(tmp_path: Path, monkeypatch, decodes) -> None:
    monkeypatch.setenv(cache_mod.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "img_align_celeba").mkdir()
    for i in (1, 2, 3):
        (tmp_path / "img_align_celeba" / f"{i:06d}.jpg").write_bytes(jpeg(i, 178, 218))
    (tmp_path / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n")
    first = all_images(celeba_dataset(str(tmp_path), image_size=16)).clone()
    second = all_images(celeba_dataset(str(tmp_path / "img_align_celeba"), image_size=16))
    assert torch.equal(first, second) and len(decodes) == 4, "root and its image folder: two sources, each decoded once"
    changed = tmp_path / "img_align_celeba" / "000002.jpg"
    changed.write_bytes(jpeg(9, 178, 218))
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = all_images(celeba_dataset(str(tmp_path), image_size=16))
    assert len(decodes) == 6 and torch.equal(third[0], first[0]) and not torch.equal(third[1], first[1])


def test_a_killed_build_is_never_read(hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real, count = data_mod.center_crop_resize, [0]

    def dies_on_the_third(image: Image.Image, image_size: int) -> np.ndarray:
        count[0] += 1
        if count[0] == 3:
            raise OSError("broken data stream")
        return real(image, image_size)

    monkeypatch.setattr(data_mod, "center_crop_resize", dies_on_the_third)
    with pytest.raises(DataError, match="cannot decode image 2 of hub:flwrlabs/celeba"):
        all_images(celeba_dataset(split="train", image_size=16))
    assert cache_folders(tmp_path) == [], "no cache, not even a temporary one, after a failed decode"
    name = cache_mod.CacheKey(f"hub:{DEFAULT_HUB_ID}/{CONFIG}", "train", 16).name
    (tmp_path / "cache" / f".{name}.tmp-999-dead").mkdir()  # what a SIGKILL would leave
    (tmp_path / "cache" / f".{name}.tmp-999-dead" / "images.u8").write_bytes(b"\0" * 10)
    monkeypatch.setattr(data_mod, "center_crop_resize", real)
    images = all_images(celeba_dataset(split="train", image_size=16))
    assert images.shape == (7, 3, 16, 16) and [p.name for p in cache_folders(tmp_path)] == [name], "leftover removed"


def two_at_once(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """all_images of the train split from two threads started together, each decode slowed so that they overlap."""
    counting = data_mod.center_crop_resize

    def slow(image: Image.Image, image_size: int) -> np.ndarray:
        time.sleep(0.02)  # both callers are inside all_images together
        return counting(image, image_size)

    monkeypatch.setattr(data_mod, "center_crop_resize", slow)
    datasets = [celeba_dataset(split="train", image_size=16) for _ in range(2)]
    start, results = threading.Barrier(2), [None, None]

    def ask(k: int) -> None:
        start.wait()
        results[k] = all_images(datasets[k])

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(r is not None for r in results) and torch.equal(results[0], results[1])
    return results


def test_two_at_once_decode_once(hub, decodes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger=cache_mod.__name__)
    two_at_once(monkeypatch)
    assert "waiting for another process" in caplog.text, "the two callers did not overlap"
    assert len(decodes) == 7, f"two callers at once decoded {len(decodes)} images: the lock lets one build"
    assert len(cache_folders(tmp_path)) == 1 and not list((tmp_path / "cache").glob(".*")), "no leftovers"


def test_without_flock_both_decode_and_the_first_rename_wins(hub, decodes, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cache_mod, "fcntl", None)  # as on Windows
    results = two_at_once(monkeypatch)
    assert len(decodes) == 14, "without a lock each caller decodes"
    (folder,) = cache_folders(tmp_path)
    assert torch.equal(results[0], torch.from_numpy(np.fromfile(folder / "images.u8", np.uint8)).view(7, 3, 16, 16))
    assert not list((tmp_path / "cache").glob(".*")), "the loser's temporary folder is removed"


def test_an_unwritable_cache_decodes_in_memory(hub, monkeypatch, tmp_path: Path, caplog) -> None:
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv(cache_mod.CACHE_ENV, str(tmp_path / "file" / "cache"))
    images = all_images(celeba_dataset(split="test", image_size=16))
    assert images.shape == (2, 3, 16, 16) and "cannot write the image cache" in caplog.text
