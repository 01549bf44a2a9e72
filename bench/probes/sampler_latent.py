"""Probe: where a sampler's completions lose their spread: in its latent, or in its prior over the latent.

On val faces with the centre hole (the sampler's hardest case) it reports, over the missing pixels:

- ``mean``: the mean prior's completion (``inpaint``);
- ``posterior``: the sampler's encoder decoding ``z = mu`` of ``q(z | the whole face)`` (what the latent can carry:
  a bound no draw of the prior can beat on average) and a draw of ``q``;
- ``prior``: draws of the sampler's prior ``p(z | observed)`` with ``--steps`` Euler steps (per sample, best of K,
  and the samples' spread in ``z`` against the spread of the posterior's ``mu`` across faces).

If the posterior's completions are far better than the mean, the latent carries the face and the prior over it
is what to train; if not, the latent carries little and no prior can give diverse samples.

    python bench/probes/sampler_latent.py --data ../shared/data/celeba32/val.npz --limit 390 --steps 8 16 32
    python bench/probes/sampler_latent.py --temperature 1.5   # the flow started from wider noise

The faces are read at the model's side, as eval/inpaint.py reads them. Nothing is written. The last
line is the result.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from hypersiren import HyperSiren  # noqa: E402
from hypersiren.data.celeba import all_images, celeba_dataset  # noqa: E402
from hypersiren.data.images import to_model_range  # noqa: E402
from hypersiren.masks.kinds import make_observed  # noqa: E402
from hypersiren.metrics.image import psnr, to_unit  # noqa: E402


def _score(y: torch.Tensor, truth: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """PSNR over the hole per face ``(B,)``."""
    return psnr(to_unit(y.clamp(-1, 1)), to_unit(truth), hole)


@torch.no_grad()
def main(args: argparse.Namespace) -> str:
    torch.manual_seed(0)
    model = HyperSiren.from_pretrained(args.model).eval()
    if model.sampler is None:
        raise SystemExit(f"{args.model}: no sampler")
    size = model.config.image_size
    x = to_model_range(all_images(celeba_dataset(args.data, "val", size, args.limit)))  # (N, 3, S, S)
    observed = make_observed("center", len(x), size, size, center_frac=0.5)
    hole = ~observed
    rows: dict[str, list[torch.Tensor]] = {}
    spread_q, spread_p = [], {s: [] for s in args.steps}
    t0 = time.perf_counter()
    for i in range(0, len(x), args.batch):
        xb, ob, hb = x[i : i + args.batch], observed[i : i + args.batch], hole[i : i + args.batch]
        context = torch.where(ob, xb, torch.zeros_like(xb))
        score = functools.partial(_score, truth=xb, hole=hb)  # (B,) per face
        rows.setdefault("mean", []).append(score(model.inpaint(context, ob)))
        s = model.sampler
        contracted = s.encoder.contract(context, ob)
        mu, logvar = s.posterior(xb, ob)
        spread_q.append(mu.flatten(1))
        for name, z in (("posterior mu", mu), ("posterior draw", mu + (0.5 * logvar).exp() * torch.randn_like(mu))):
            out = model.decode(model.generate(s.encoder.expand(contracted, z)), size, size)
            rows.setdefault(name, []).append(score(out))
        for steps in args.steps:
            rep = contracted.repeat(args.k)  # (B K, ...), image-major
            z = s.prior.sample(rep.deep, args.temperature * s.noise(len(rep.deep), size), steps)
            out = model.decode(model.generate(s.encoder.expand(rep, z)), size, size).unflatten(0, (len(xb), args.k))
            per = torch.stack([score(out[:, j]) for j in range(args.k)], 1)  # (B, K)
            rows.setdefault(f"prior {steps} steps: per sample", []).append(per.mean(1))
            rows.setdefault(f"prior {steps} steps: best of {args.k}", []).append(per.max(1).values)
            zk = z.flatten(1).unflatten(0, (len(xb), args.k))  # (B, K, D)
            spread_p[steps].append(zk.std(1).mean(1))  # per face: the samples' spread per latent entry
            rows.setdefault(f"prior {steps} steps: |z| rms", []).append(zk.pow(2).mean((1, 2)).sqrt())
    q = torch.cat(spread_q)
    print(f"{len(x)} faces of {args.data}, centre hole, {time.perf_counter() - t0:.0f} s")
    for name, values in rows.items():
        unit = "" if "rms" in name else " dB"
        print(f"  {name:32s} {torch.cat(values).mean():7.3f}{unit}")
    print(
        f"  posterior mu: spread across faces {q.std(0).mean():.3f}, rms {q.pow(2).mean().sqrt():.3f}; "
        f"posterior std {(0.5 * logvar).exp().mean():.3f} (last batch)"
    )
    for steps, values in spread_p.items():
        print(f"  prior {steps} steps: spread across draws of one face {torch.cat(values).mean():.3f}")
    best = max(args.steps, key=lambda s: torch.cat(rows[f"prior {s} steps: best of {args.k}"]).mean())
    avg = {name: torch.cat(values).mean().item() for name, values in rows.items()}
    line = (
        f"mean {avg['mean']:.2f} dB, posterior mu {avg['posterior mu']:.2f} dB, best of {args.k} at {best} "
        f"steps {avg[f'prior {best} steps: best of {args.k}']:.2f} dB"
    )
    print(line)
    return line


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="celeba32", help="a prior with a sampler: name or folder (default celeba32)")
    p.add_argument(
        "--data", default="../shared/data/celeba32/val.npz", help="faces: any source eval/inpaint.py reads (val split)"
    )
    p.add_argument("--limit", type=int, default=390, help="the first N faces (default 390)")
    p.add_argument("--steps", type=int, nargs="+", default=[8], help="Euler steps of the prior to try (default 8)")
    p.add_argument("--k", type=int, default=10, help="draws per face (default 10)")
    p.add_argument("--temperature", type=float, default=1.0, help="scale the flow's starting noise (default 1)")
    p.add_argument("--batch", type=int, default=65, help="faces per batch (default 65)")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse())
