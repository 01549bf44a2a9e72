"""Probe: where a sampler's draws differ from the truth's spread, by colour and by spatial frequency (issue 28).

For the first ``--limit`` faces of a split with a centre hole, it compares two residuals from the mean completion over
the hole: the truth's (``truth - mean``, what a posterior draw should look like in distribution) and the sampler's
(``draw - mean``, the pixels :meth:`Sampler.complete` returns, before the SIREN). It prints their standard deviations in
an opponent colour basis (luminance, red-green, blue-yellow) and their power in four bands of spatial frequency over the
hole (the 2-D FFT of the hole, in four equal bands of radius up to Nyquist). A sampler whose draws are "the mean with
colour blotches" shows too much chroma; one with speckle too much power in the top band.

    python bench/probes/residual_spectrum.py --data ../shared/data/celeba32/val.npz --limit 200
    python bench/probes/residual_spectrum.py --model runs/celeba64-sampler --data data/celeba64/val.npz --limit 30 \
        --sampler_churn 1
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

OPPONENT = torch.tensor([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=torch.float32)
OPPONENT = OPPONENT / OPPONENT.norm(dim=1, keepdim=True)  # orthonormal rows: luminance, red-green, blue-yellow


def hole_stats(residual: torch.Tensor, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 3, H, W)`` residuals -> (the std of each opponent channel over the hole, the power in 4 radial bands)."""
    top, left, side, _ = box
    hole = residual[:, :, top : top + side, left : left + side]
    opp = torch.einsum("oc,nchw->nohw", OPPONENT, hole)
    std = opp.pow(2).mean(dim=(0, 2, 3)).sqrt().numpy()
    power = torch.fft.fft2(opp).abs().pow(2).sum(1).mean(0) / side**2  # (side, side)
    f = torch.fft.fftfreq(side)
    radius = (f[:, None] ** 2 + f[None, :] ** 2).sqrt() / 0.5  # 0 at DC, 1 at Nyquist along an axis
    bands = [(radius <= 0.25), (radius > 0.25) & (radius <= 0.5), (radius > 0.5) & (radius <= 0.75), radius > 0.75]
    return std, np.array([power[b].sum().item() / side**2 for b in bands])


def main(argv: list[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="celeba32", help="a prior with a sampler (name, folder or Hub id)")
    p.add_argument("--data", required=True, help="an .npz of uint8 faces (N, S, S, 3) at the model's side")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--samples", type=int, default=2, help="draws per face")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sampler_churn", type=float, default=None, help="draw by the SDE with this churn (default: the model's)"
    )
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    if model.sampler is None:
        p.error(f"{args.model} has no sampler")
    if args.sampler_churn is not None:
        try:
            model.set_sampler_churn(args.sampler_churn)
        except ValueError as error:
            p.error(f"--sampler_churn: {error}")
    faces = np.load(args.data)["images"][: args.limit]
    truth = to_model_range(torch.from_numpy(faces).permute(0, 3, 1, 2))
    s = truth.shape[-1]
    hole = ~center(s, s)
    observed = (~hole)[None, None].expand(len(truth), 1, s, s)
    rows = hole.any(1).nonzero().flatten()  # the centre square's rows, and as many columns from the same offset
    box = (int(rows[0]), int(rows[0]), len(rows), len(rows))
    generator = torch.Generator().manual_seed(args.seed)
    truths, draws = [], []
    with torch.no_grad():
        for i in range(0, len(truth), 50):
            x, obs = model.model_input(truth[i : i + 50], observed[i : i + 50])
            mean, latent, _ = model.mean_completion(x, obs)
            k = args.samples
            m, o, c = (t.repeat_interleave(k, 0) for t in (mean, obs, latent.grid))
            drawn = model.sampler.complete(m, o, c, model.sampler.noise(len(m), s, generator))
            truths.append(x - mean)
            draws.append(drawn - m)
    stats = {}
    for name, r in (("truth - mean", torch.cat(truths)), ("draw - mean", torch.cat(draws))):
        std, bands = stats[name] = hole_stats(r, box)
        print(
            f"{name:13s} std lum {std[0]:.4f} rg {std[1]:.4f} by {std[2]:.4f} | power by band (low..Nyquist) "
            + " ".join(f"{b:.5f}" for b in bands)
        )
    return stats


if __name__ == "__main__":
    main()
