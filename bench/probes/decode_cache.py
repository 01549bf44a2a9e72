"""Probe: what decoding real CelebA faces into the image cache costs (:mod:`hypersiren.data.cache`), and what the
cache weighs at 32, 64 and 128 (docs/results.md, "Data").

The faces are the JPEG pack of ``shared/data/celeba32`` (CelebA ids 1..10000, the 89x109 half-size copy of
``img_align_celeba``). They are written as a local dataset in flwrlabs/celeba's own layout and schema (parquet
files ``img_align+identity+attr/train-0000k-of-0000n.parquet``: ``image`` as the datasets Image feature holding
the JPEG bytes, ``celeb_id`` and the 40 attributes, these as placeholders) under ``--work`` in /tmp, never the
repository (CelebA must not be committed), and the default Hub id is pointed at them through datasets' own
parquet loader, so ``all_images(celeba_dataset("flwrlabs/celeba", "train", S))`` runs the path of a real run.
``--full_size`` first upsamples each face to the originals' 178x218 (PIL BICUBIC) and re-encodes it as JPEG
(``--quality``), to estimate the cost of the real sources, which decode slower than the half-size copy.

For each size: the uncached decode (``all_images`` as it was before the cache) is timed, then the first call
decodes into an empty cache (wall and process-CPU seconds per 10,000 faces: on a shared machine the wall time
depends on the scheduler, the CPU time much less) and its pixels are checked against the uncached ones, the second
is a new ``celeba_dataset`` + ``all_images`` that reads the cache (what each later run pays), then random batches
of 100 are gathered as training does, from the map and from an in-memory copy. The RAM of the full train split
(162,770 faces) is computed from the bytes per face: a memory map of the file, shared by the processes of one
machine through the page cache.

    python bench/probes/decode_cache.py                    # the 89x109 half-size sources
    python bench/probes/decode_cache.py --full_size        # upsampled to 178x218, re-encoded at quality 90
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hypersiren.data import DEFAULT_HUB_ID, all_images, celeba_dataset  # noqa: E402
from hypersiren.data import cache as cache_mod  # noqa: E402
from hypersiren.data.celeba import HUB_ATTRIBUTES  # noqa: E402

PACK = Path(__file__).resolve().parents[3] / "shared/data/celeba32/celeba_align_src89x109_jpeg.npz"
CONFIG = "img_align+identity+attr"
FULL_TRAIN = 162_770
BATCH = 100  # the paper's batch
ATTRIBUTES = HUB_ATTRIBUTES


def jpeg_faces(pack: Path, count: int, full_size: bool, quality: int) -> list[bytes]:
    """The pack's first ``count`` JPEG files, as they are or upsampled to 178x218 and re-encoded."""
    with np.load(pack) as arrays:
        buffer, offsets = arrays["jpeg_bytes"], arrays["offsets"]
        faces = [buffer[offsets[i] : offsets[i + 1]].tobytes() for i in range(min(count, len(offsets) - 1))]
    if not full_size:
        return faces
    upsampled = []
    for data in tqdm(faces, desc="upsampling to 178x218", leave=False):
        out = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").resize((178, 218), Image.BICUBIC).save(out, "JPEG", quality=quality)
        upsampled.append(out.getvalue())
    return upsampled


def write_hub_layout(faces: list[bytes], root: Path, shards: int = 2) -> list[str]:
    """flwrlabs/celeba's parquet layout and schema, holding ``faces`` as its train split."""
    import datasets

    features = datasets.Features(
        {"image": datasets.Image(), "celeb_id": datasets.Value("int64")}
        | {name: datasets.Value("bool") for name in ATTRIBUTES}
    )
    (root / CONFIG).mkdir(parents=True, exist_ok=True)
    files, bounds = [], np.linspace(0, len(faces), shards + 1).astype(int)
    for k in range(shards):
        rows = range(bounds[k], bounds[k + 1])
        columns = {
            "image": [{"bytes": faces[i], "path": f"{i + 1:06d}.jpg"} for i in rows],
            "celeb_id": [0] * len(rows),
        }
        columns |= {name: [False] * len(rows) for name in ATTRIBUTES}
        path = root / CONFIG / f"train-{k:05d}-of-{shards:05d}.parquet"
        datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))
        files.append(str(path))
    return files


def point_the_hub_at(files: list[str], hf_cache: Path) -> None:
    import datasets

    real_load = datasets.load_dataset

    def load_dataset(hub_id: str, config: str | None, split: str) -> datasets.Dataset:
        assert (hub_id, config, split) == (DEFAULT_HUB_ID, CONFIG, "train"), (hub_id, config, split)
        return real_load("parquet", data_files={"train": files}, split="train", cache_dir=str(hf_cache))

    datasets.load_dataset = load_dataset


def gather_seconds(images: torch.Tensor, batches: int = 200) -> float:
    """Seconds per random batch of ``BATCH`` faces ``images[idx]``, as the training loop indexes them."""
    generator = torch.Generator().manual_seed(0)
    indices = [torch.randint(0, len(images), (BATCH,), generator=generator) for _ in range(batches)]
    start = time.perf_counter()
    for idx in indices:
        images[idx]  # noqa: B018  (B, 3, S, S)
    return (time.perf_counter() - start) / batches


def main(args: argparse.Namespace) -> dict[int, dict[str, float]]:
    work = Path(args.work)
    if work.resolve().is_relative_to(Path(__file__).resolve().parents[2]):
        raise SystemExit(f"--work {work} is inside the repository: CelebA must not be committed")
    shutil.rmtree(work, ignore_errors=True)
    faces = jpeg_faces(Path(args.pack), args.count, args.full_size, args.quality)
    width, height = Image.open(io.BytesIO(faces[0])).size
    files = write_hub_layout(faces, work / "hub")
    point_the_hub_at(files, work / "hf")
    os.environ[cache_mod.CACHE_ENV] = str(work / "cache")
    start = time.perf_counter()
    n = len(celeba_dataset(DEFAULT_HUB_ID, "train", 32))  # datasets' one-off parquet -> arrow, as after a download
    print(
        f"faces: {n} CelebA sources at {width}x{height}, mean JPEG {np.mean([len(f) for f in faces]) / 1e3:.1f} kB "
        f"({'upsampled, re-encoded at quality ' + str(args.quality) if args.full_size else 'as stored'}); "
        f"first load_dataset {time.perf_counter() - start:.2f} s"
    )
    results = {}
    for size in args.sizes:
        lazy = celeba_dataset(DEFAULT_HUB_ID, "train", size)
        start = time.process_time()
        uncached = torch.stack([lazy.uint8(i) for i in range(n)])  # what every run paid before the cache
        before = time.process_time() - start
        start, cpu = time.perf_counter(), time.process_time()
        first = all_images(celeba_dataset(DEFAULT_HUB_ID, "train", size))
        decode, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert torch.equal(first, uncached), "the cache holds other pixels than the uncached decode"
        del first, uncached
        start = time.perf_counter()
        images = all_images(celeba_dataset(DEFAULT_HUB_ID, "train", size))
        reuse = time.perf_counter() - start
        mapped, in_memory = gather_seconds(images), gather_seconds(images.clone())
        (folder,) = [p for p in (work / "cache").iterdir() if p.is_dir() and f"-{size}px-" in p.name]
        stat = (folder / "images.u8").stat()
        per_face = images[0].numel()
        full = FULL_TRAIN * per_face / 2**30
        results[size] = {
            "s_per_10k": decode / n * 1e4,
            "cpu_s_per_10k": cpu / n * 1e4,
            "uncached_cpu_s_per_10k": before / n * 1e4,
            "reuse_s": reuse,
            "batch_mapped_s": mapped,
            "batch_in_memory_s": in_memory,
            "bytes": stat.st_size,
            "full_train_gib": full,
        }
        print(
            f"{size:>4}x{size:<4} decode into the cache {decode / n * 1e4:5.2f} s per 10,000 faces "
            f"({cpu / n * 1e4:.2f} s CPU; uncached {before / n * 1e4:.2f} s CPU) "
            f"| second run {reuse:5.2f} s | a batch of {BATCH}: {mapped * 1e3:.2f} ms mapped, "
            f"{in_memory * 1e3:.2f} ms in memory | cache "
            f"{stat.st_size / 2**20:7.1f} MiB on disk ({stat.st_blocks * 512 / 2**20:.1f} allocated), "
            f"{per_face} B/face | full train split {FULL_TRAIN:,} faces: {full:.2f} GiB, decode "
            f"{cpu / n * FULL_TRAIN / 60:.1f} CPU min once"
        )
        del images
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"peak RSS of this process {peak:.0f} MiB (mapped cache pages count once read)")
    summary = ", ".join(
        f"{s}: {r['s_per_10k']:.2f} s/10k ({r['cpu_s_per_10k']:.2f} CPU), {r['full_train_gib']:.2f} GiB"
        for s, r in results.items()
    )
    print(
        f"decode into the cache ({width}x{height} sources, {os.cpu_count()} CPUs, one process): {summary} "
        f"for the full train split"
    )
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pack", default=str(PACK), help="celeba_align_src89x109_jpeg.npz (jpeg_bytes, offsets, ids)")
    p.add_argument("--work", default="/tmp/hypersiren-decode-probe", help="parquet files, datasets' cache, the cache")
    p.add_argument("--count", type=int, default=10_000, help="faces to decode")
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--full_size", action="store_true", help="upsample to 178x218 and re-encode first")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of the re-encoded faces (--full_size)")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
