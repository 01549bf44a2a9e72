"""Small shared helpers for tests: load a script as a module, write tiny real data files (npz, WAV, MP4)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str):
    """Import a script such as ``train/celeba.py`` as a module (scripts are not a package)."""
    path = ROOT / relative
    name = "script_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def checkout_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess that must import this checkout's package, whatever is installed."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def smooth_faces(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``(n, size, size, 3)`` uint8 images with smooth structure (gradients and a blob), not noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    out = np.empty((n, size, size, 3))
    for i in range(n):
        cy, cx, r = rng.uniform(0.3, 0.7, 2).tolist() + [rng.uniform(0.15, 0.3)]
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
        for c in range(3):
            a, b, d = rng.uniform(-1, 1, 3)
            out[i, :, :, c] = 0.5 + 0.25 * (a * yy + b * xx) + 0.4 * d * blob
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def write_npz_split(folder: Path, size: int = 16, counts=(("train", 48), ("val", 8), ("test", 8))) -> Path:
    """A celeba32-style folder of ``{split}.npz`` files with synthetic images."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (split, n) in enumerate(counts):
        np.savez(folder / f"{split}.npz", images=smooth_faces(n, size, seed=i), ids=np.arange(n, dtype=np.int32))
    return folder


def save_random_alexnet(path: Path):
    """Save a randomly initialised LPIPS AlexNet backbone in the offline-weights ``.npz`` layout; return it."""
    from hypersiren.metrics import perceptual

    ref = perceptual.random_lpips()
    perceptual.save_backbone(ref, path)
    return ref


def write_wav(path: Path, seconds: float = 0.1, rate: int = 8000) -> Path:
    """A mono 16-bit WAV: two tones, one decaying."""
    from scipy.io import wavfile

    t = np.arange(int(seconds * rate)) / rate
    wave = 0.6 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 1234 * t + 1.0) * np.exp(-8 * t)
    wavfile.write(path, rate, (wave * 20000).astype(np.int16))
    return path


def write_mp4(path: Path, frames: int = 4, size: int = 32) -> Path:
    """A small RGB H.264 MP4 of smooth moving patterns (imageio + ffmpeg)."""
    import imageio.v3 as iio

    yy, xx = np.mgrid[0:size, 0:size] / size
    video = [
        np.stack([np.sin(6 * xx + f), np.cos(5 * yy - f), np.sin(4 * (xx + yy) + 2 * f)], -1) * 100 + 128
        for f in range(frames)
    ]
    iio.imwrite(path, np.stack(video).astype(np.uint8), fps=10, codec="libx264", quality=10, macro_block_size=16)
    return path


def tiny_sampler(image_size: int = 16, seed: int = 0):
    """A tiny grid prior with a pixel-flow sampler whose velocity is not zero (untrained: its draws already differ)."""
    import torch

    from hypersiren import HyperSiren, HyperSirenConfig

    torch.manual_seed(seed)
    config = HyperSirenConfig.tiny(
        encoder="grid",
        hypernet="grid",
        image_size=image_size,
        sampler="pixel_flow",
        sampler_width=8,
        sampler_stages=1,
        sampler_steps=2,
    )
    model = HyperSiren(config).eval()
    with torch.no_grad():
        model.sampler.net.out[-1].weight.normal_(0, 0.5)
    return model
