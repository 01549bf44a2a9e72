"""Probe: new faces, a prior's sampler given nothing observed (docs/results.md, "The pixel-flow sampler").

Draws ``--count`` faces with every pixel missing (``model.sample`` with an all-False ``observed``), one generator
seeded by ``--seed``, each draw's SIREN rendered at ``--size``, and writes them as an 8-column grid PNG (no
matplotlib: the pixels as they are, each face at ``--size``). The Fréchet distance of such draws to real test faces
is ``eval/inpaint.py --mask empty --samples 2`` (the same draws' first sample of each face).

    python bench/probes/new_faces.py --out docs/new_faces.png                 # the shipped celeba32, 64 at 64x64
    python bench/probes/new_faces.py --model celeba64 --size 64 --out runs/new_faces64.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hypersiren.app.sources import load_model  # noqa: E402


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="celeba32", help="a prior with a sampler (name, folder or Hub id)")
    p.add_argument("--count", type=int, default=64, help="faces drawn (default 64)")
    p.add_argument("--size", type=int, default=64, help="each draw's SIREN rendered at this side (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/new_faces.png", help="the grid's PNG")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    if model.sampler is None:
        p.error(f"{args.model} has no sampler: it cannot draw new faces")
    s = model.config.image_size
    nothing = torch.zeros(args.count, 1, s, s, dtype=torch.bool)
    blank = torch.zeros(args.count, model.config.channels, s, s)
    draws = model.sample(blank, nothing, 1, torch.Generator().manual_seed(args.seed), size=args.size)[:, 0]
    pixels = ((draws.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (N, S, S, C)
    columns = 8
    rows = -(-len(pixels) // columns)
    grid = np.full((rows * (args.size + 2), columns * (args.size + 2), pixels.shape[-1]), 255, np.uint8)
    for i, face in enumerate(pixels):
        r, c = divmod(i, columns)
        grid[
            r * (args.size + 2) : r * (args.size + 2) + args.size, c * (args.size + 2) : c * (args.size + 2) + args.size
        ] = face
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(out)
    print(f"{args.count} new faces from {args.model} (seed {args.seed}) at {args.size}x{args.size} -> {out}")
    return out


if __name__ == "__main__":
    main()
