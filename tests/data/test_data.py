"""CelebA data sources on tiny real files in tmp_path: folder + partition file, npz, image folder, the Hub."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hypersiren.data import DEFAULT_HUB_ID, DataError, celeba_dataset, to_model_range, to_uint8
from hypersiren.data import celeba as data_mod

# 6 aligned-CelebA-shaped images: ids 1-3 train, 4 val, 5-6 test; each a flat colour keyed by id.
PARTITION = {1: 0, 2: 0, 3: 0, 4: 1, 5: 2, 6: 2}
# JPEG chroma subsampling would smear the border a few pixels inwards; without it any leak is the crop's.
LOSSLESS_ISH = {"quality": 100, "subsampling": 0}


def face(value: int, width: int = 178, height: int = 218) -> Image.Image:
    """A flat ``value`` centre square with a bright red border outside the centred crop (rows 0-19, 198-217)."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:] = (255, 0, 0)
    side = min(width, height)
    top, left = (height - side) // 2, (width - side) // 2
    pixels[top : top + side, left : left + side] = value
    return Image.fromarray(pixels)


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    (tmp_path / "img_align_celeba").mkdir()
    lines = []
    for i, code in PARTITION.items():
        face(40 * i).save(tmp_path / "img_align_celeba" / f"{i:06d}.jpg", **LOSSLESS_ISH)
        lines.append(f"{i:06d}.jpg {code}\n")
    lines.append("000007.jpg 0\n")  # listed but absent: partial copies of CelebA are common
    (tmp_path / "list_eval_partition.txt").write_text("".join(lines))
    return tmp_path


def values(dataset) -> list[int]:
    """The flat value of each item, back in [0, 255]."""
    return [int(to_uint8(dataset[i]).float().mean().round()) for i in range(len(dataset))]


@pytest.mark.parametrize(("split", "expected"), [("train", [40, 80, 120]), ("valid", [160]), ("test", [200, 240])])
def test_celeba_folder_splits_and_centre_crop(celeba_root: Path, split: str, expected: list[int]) -> None:
    dataset = celeba_dataset(str(celeba_root), split=split, image_size=32)
    assert len(dataset) == len(expected), f"{split}: {len(dataset)} images, want {len(expected)}"
    item = dataset[0]
    assert item.shape == (3, 32, 32) and item.dtype == torch.float32
    assert item.min() >= -1 and item.max() <= 1
    # a crop that caught any of the red border would make the red channel differ from green
    red_excess = (item[0] - item[1]).abs().max().item()
    assert red_excess < 0.05, f"border leaked into the crop: red - green up to {red_excess:.3f}"
    got = values(dataset)
    assert all(abs(g - e) <= 3 for g, e in zip(got, expected, strict=True)), f"{split}: values {got} != {expected}"


def test_celeba_image_folder_itself_and_limit(celeba_root: Path) -> None:
    dataset = celeba_dataset(str(celeba_root / "img_align_celeba"), split="test", image_size=16, limit=1)
    assert dataset.images.shape == (1, 3, 16, 16) and dataset.images.dtype == torch.uint8
    assert abs(values(dataset)[0] - 200) <= 3


def test_half_size_copy_crops_its_square(tmp_path: Path) -> None:
    (tmp_path / "img_align_celeba").mkdir()
    face(100, width=89, height=109).save(tmp_path / "img_align_celeba" / "000001.jpg", **LOSSLESS_ISH)
    (tmp_path / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    item = celeba_dataset(str(tmp_path), image_size=32)[0]
    assert (item[0] - item[1]).abs().max() < 0.05, "89x109 image: border leaked into the 89x89 crop"


def make_npz(path: Path, n: int, size: int, seed: int = 0) -> np.ndarray:
    images = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    np.savez(path, images=images, ids=np.arange(1, n + 1, dtype=np.int32))
    return images


def test_npz_folder_and_single_file(tmp_path: Path) -> None:
    arrays = {
        name: make_npz(tmp_path / f"{name}.npz", n, 32, seed)
        for seed, (name, n) in enumerate([("train", 5), ("val", 3), ("test", 4)])
    }
    for split, name in [("train", "train"), ("validation", "val"), ("test", "test")]:
        dataset = celeba_dataset(str(tmp_path), split=split, image_size=32)
        want = torch.from_numpy(arrays[name]).permute(0, 3, 1, 2)
        assert torch.equal(dataset.images, want), f"{split}: images are not the stored array (no resize at 32)"
        assert torch.equal(dataset[1], to_model_range(want[1]))
    single = celeba_dataset(str(tmp_path / "val.npz"), split="test", image_size=16, limit=2)
    assert single.images.shape == (2, 3, 16, 16), "single file: split ignored, limit and resize applied"
    assert torch.equal(single.ids, torch.tensor([1, 2], dtype=torch.int32))


def test_uint8_round_trip() -> None:
    images = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).expand(2, 3, 16, 16)
    assert torch.equal(to_uint8(to_model_range(images)), images)
    assert to_model_range(images).min() == -1 and to_model_range(images).max() == 1
    assert torch.equal(to_uint8(torch.tensor([-3.0, 3.0])), torch.tensor([0, 255], dtype=torch.uint8))


def test_image_folder_recursive_sorted_and_split_subfolder(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    Image.new("RGB", (40, 20), (10, 10, 10)).save(tmp_path / "b" / "x.png")
    Image.new("RGB", (20, 20), (90, 90, 90)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = celeba_dataset(str(tmp_path), split="test", image_size=8)
    assert values(dataset) == [90, 10], "all images, recursively, sorted by path; split ignored"
    (tmp_path / "test").mkdir()
    Image.new("RGB", (8, 8), (200, 200, 200)).save(tmp_path / "test" / "y.png")
    assert values(celeba_dataset(str(tmp_path), split="test", image_size=8)) == [200], "split subfolder wins"


def test_hub_through_patched_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def load_dataset(hub_id: str, config: str | None, split: str) -> datasets.Dataset:
        calls.append((hub_id, config, split))
        return datasets.Dataset.from_dict({"image": [face(50), face(150)], "celeb_id": [1, 2]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    lazy = celeba_dataset(split="val", image_size=32)
    assert calls == [(DEFAULT_HUB_ID, "img_align+identity+attr", "valid")], calls
    assert len(lazy) == 2 and lazy[1].shape == (3, 32, 32)
    assert [abs(v - e) <= 3 for v, e in zip(values(lazy), [50, 150], strict=True)] == [True, True]
    limited = celeba_dataset("someone/faces", split="train", image_size=16, limit=1)
    assert limited.images.shape == (1, 3, 16, 16) and calls[-1] == ("someone/faces", None, "train")


def test_hub_unreachable_names_the_hub_id(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"'flwrlabs/celeba'.*offline.*local path"):
        celeba_dataset(DEFAULT_HUB_ID)


@pytest.mark.parametrize(
    ("make", "split", "match"),
    [
        (lambda p: str(p / "missing" / "celeba"), "train", "does not exist"),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "train", "no npz files, CelebA partition file or images"),
        (lambda p: (p / "x.npz").write_bytes(b"not a zip") and str(p / "x.npz"), "train", "cannot read npz file"),
        (lambda p: np.savez(p / "y.npz", pixels=np.zeros(3)) or str(p / "y.npz"), "train", r"no `images` array"),
        (
            lambda p: np.savez(p / "test.npz", images=np.zeros((1, 4, 4, 3))) or str(p),
            "test",
            "expected `images` uint8",
        ),
        (lambda p: np.savez(p / "train.npz", images=np.zeros((1, 4, 4, 3), np.uint8)) or str(p), "val", "no npz file"),
        (lambda p: str(p), "holdout", "unknown split 'holdout'"),
    ],
)
def test_bad_inputs_raise_data_error(tmp_path: Path, make, split: str, match: str) -> None:
    source = make(tmp_path)
    with pytest.raises(DataError, match=match) as info:
        celeba_dataset(source, split=split)
    assert split == "holdout" or str(tmp_path) in str(info.value), f"message does not name the path: {info.value}"


@pytest.mark.skipif("HYPERSIREN_SHARED_DATA" not in os.environ, reason="set HYPERSIREN_SHARED_DATA=../shared/data")
def test_shared_celeba32_test_split() -> None:
    dataset = celeba_dataset(os.path.join(os.environ["HYPERSIREN_SHARED_DATA"], "celeba32"), split="test")
    assert dataset.images.shape == (9613, 3, 32, 32), "official test ids < 192600: 9,613 images"
    assert data_mod.to_model_range(dataset.images[:1]).abs().max() <= 1
