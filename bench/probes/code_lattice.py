"""Probe: is there a lattice in a hole? The jumps between neighbouring pixels at the boundaries of 2-, 4- and 8-pixel
cells against those inside a 2-pixel cell, for the mean prior's code grid, its mean completion, the sampler's draws
(if it has one) and the truth (issue 28: celeba64's draws are "a lattice of colour blobs").

A map upsampled by nearest neighbour from a coarser one is constant within each cell and jumps at the cells' edges;
in an image with no lattice every offset looks alike and the ratios are about 1. Over the centre hole of the first
``--limit`` faces of a split, for each source it prints, per period ``p`` in 2, 4 and 8, the mean absolute difference
between neighbouring columns (and rows) that straddle a multiple of ``p`` divided by that between a pair inside a
2-pixel cell (an even column and the next):

    python bench/probes/code_lattice.py --model runs/celeba64-sampler2 --data data/celeba64/val.npz --limit 40
    python bench/probes/code_lattice.py --data ../shared/data/celeba32/val.npz --limit 100    # the shipped celeba32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hypersiren.app.sources import load_model  # noqa: E402
from hypersiren.data.images import to_model_range  # noqa: E402
from hypersiren.masks.kinds import center  # noqa: E402

PERIODS = (2, 4, 8)


def lattice_ratios(maps: torch.Tensor, hole: torch.Tensor) -> dict[int, float]:
    """``(N, C, H, W)`` maps, ``(H, W)`` bool hole -> {period: the mean |jump| across multiples of it / inside a cell}.

    A jump between pixels ``j`` and ``j + 1`` (along either axis) counts when both lie in the hole; it straddles a
    multiple of ``p`` when ``(j + 1) % p == 0`` and lies inside a 2-pixel cell when ``j`` is even.
    """
    sums, counts = dict.fromkeys((*PERIODS, "inside"), 0.0), dict.fromkeys((*PERIODS, "inside"), 0)
    for axis in (-1, -2):
        jumps = maps.diff(dim=axis).abs().mean(dim=(0, 1))  # (H, W - 1) or (H - 1, W)
        both = hole[:, 1:] & hole[:, :-1] if axis == -1 else hole[1:] & hole[:-1]
        j = torch.arange(jumps.shape[axis])
        j = j[None, :].expand_as(jumps) if axis == -1 else j[:, None].expand_as(jumps)
        for key, where in [("inside", j % 2 == 0), *((p, (j + 1) % p == 0) for p in PERIODS)]:
            sums[key] += jumps[both & where].sum().item()
            counts[key] += int((both & where).sum())
    base = max(sums["inside"] / max(counts["inside"], 1), 1e-12)
    return {p: sums[p] / max(counts[p], 1) / base for p in PERIODS}


def main(argv: list[str] | None = None) -> dict[str, dict[int, float]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="celeba32", help="a grid prior (name, folder or Hub id)")
    p.add_argument("--data", required=True, help="an .npz of uint8 faces (N, S, S, 3) at the model's side")
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    if model.config.encoder != "grid":
        p.error(f"{args.model} has no code grid (encoder={model.config.encoder!r})")
    faces = np.load(args.data)["images"][: args.limit]
    truth = to_model_range(torch.from_numpy(faces).permute(0, 3, 1, 2))
    s = truth.shape[-1]
    if s != model.config.image_size:
        p.error(
            f"--data holds {s}x{s} faces; {args.model} is a {model.config.image_size}x{model.config.image_size} prior"
        )
    hole = ~center(s, s)
    observed = (~hole)[None, None].expand(len(truth), 1, s, s)
    generator = torch.Generator().manual_seed(args.seed)
    sources: dict[str, list[torch.Tensor]] = {"codes": [], "mean": [], "truth": []}
    if model.sampler is not None:
        sources["draw"] = []
    with torch.no_grad():
        for i in range(0, len(truth), 20):
            x, obs = model.model_input(truth[i : i + 20], observed[i : i + 20])
            mean, latent, _ = model.mean_completion(x, obs)
            grid = latent.grid
            if grid.shape[-1] != s:
                p.error(f"{args.model}'s code grid is {grid.shape[-1]} wide, not the image's {s}: no per-pixel lattice")
            sources["codes"].append(grid)
            sources["mean"].append(mean)
            sources["truth"].append(x)
            if model.sampler is not None:
                noise = model.sampler.noise(len(mean), s, generator)
                sources["draw"].append(model.sampler.complete(mean, obs, grid, noise))
    ratios = {name: lattice_ratios(torch.cat(maps), hole) for name, maps in sources.items()}
    print(f"{args.model}, {len(truth)} faces, centre hole: jumps across multiples of p / inside a 2-pixel cell")
    for name, r in ratios.items():
        print(f"  {name:6s} " + "  ".join(f"p={p}: {r[p]:.2f}" for p in PERIODS))
    return ratios


if __name__ == "__main__":
    main()
