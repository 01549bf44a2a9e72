"""A training run's validation (SIREN supplement Sec. 9's metric): per-image MSE on [0, 1], output clipped, all
pixels, at the fixed contexts of :func:`validation_masks` (exactly 100 and 1000 random pixels, seeded; the centred
hole; everything), for this process's share of the
validation faces; the caller gathers (the library has no Accelerator: ``gather`` and ``autocast`` are passed in).

With the hires faces also ``hires_full`` / ``hires_center``: the rendering at their side against them. With
``sampler``: the flow's loss on the centre hole (``flow_center``: its noise and times seeded by (seed, -4, rank,
chunk), so comparable across a run) and the centre hole completed by 4 draws (``sample_center``: one draw's MSE;
``best4_center``: the best of the 4), draws seeded by (seed, -3, rank, chunk).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch
from torch import nn

from hypersiren.data.images import to_model_range
from hypersiren.masks.kinds import center, random_context
from hypersiren.metrics.image import mse, to_unit
from hypersiren.utils import seeds
from hypersiren.utils.seeds import generator


def validation_masks(n: int, height: int, width: int, seed: int) -> dict[str, torch.Tensor]:
    """The validation contexts by metric name, each ``(n, 1, H, W)`` bool (the same at every validation)."""
    return {
        "mse_ctx100": random_context(n, height, width, min(100, height * width), seeds.generator(seed, -1)),
        "mse_ctx1000": random_context(n, height, width, min(1000, height * width), seeds.generator(seed, -2)),
        "mse_center": center(height, width).expand(n, 1, height, width),
        "mse_full": torch.ones(n, 1, height, width, dtype=torch.bool, device="cpu"),
    }


@torch.no_grad()
def validate(
    model: nn.Module,
    images: torch.Tensor,
    *,
    seed: int,
    batch_size: int,
    device: torch.device | str,
    gather: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
    rank: int = 0,
    world: int = 1,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    hires: torch.Tensor | None = None,
    sampler: bool = False,
) -> dict[str, float]:
    """Validation metrics, each the mean over every validation face (of every process, once ``gather`` joins them).

    Args:
        model: the prior (a wrapped one is fine: it is only called), in any mode; left in training mode.
        images: ``(N, C, S, S)`` uint8, every validation face (each process takes its share).
        gather: joins a per-process ``(per,)`` tensor into ``(world * per,)`` in rank order.
        autocast: the context each forward runs under.
        hires: ``(N, C, S', S')`` uint8, the same faces at a larger side, or None.
        sampler: also the sampler's centre-hole draws (the model's unwrapped ``sample``: ``model.module`` if wrapped).
    """
    model.eval()
    n = len(images)
    per = math.ceil(n / world)
    idx = torch.arange(rank * per, (rank + 1) * per) % n  # pad the last shard by wrapping, trimmed after gather
    masks = validation_masks(n, *images.shape[-2:], seed)
    extra = {} if hires is None else {"hires_full": masks["mse_full"], "hires_center": masks["mse_center"]}
    results: dict[str, float] = {}
    for name, observed in {**masks, **extra}.items():
        truth = hires if name.startswith("hires") else images
        errors = []
        for chunk in idx.split(batch_size):
            x = to_model_range(images[chunk]).to(device)
            with autocast():
                pred = model(x, observed[chunk].to(device), size=truth.shape[-2:]).images
            errors.append(mse(to_unit(pred), to_unit(to_model_range(truth[chunk]).to(device))))  # per image
        results[name] = gather(torch.cat(errors))[:n].mean().item()
    if sampler:
        bare = getattr(model, "module", model)
        flow = []  # the flow's loss on the centre hole, its noise and times fixed: cheap, and comparable over a run
        for i, chunk in enumerate(idx.split(batch_size)):
            x = to_model_range(images[chunk]).to(device)
            with autocast():
                out = model(
                    x,
                    masks["mse_center"][chunk].to(device),
                    truth=x,
                    generator=generator(seed, -4, rank, i, device=device),
                )
            flow.append(out.sampler.loss.float())
        results["flow_center"] = gather(torch.cat(flow))[:n].mean().item()
        draws = []
        for i, chunk in enumerate(idx.split(batch_size)):
            x = to_model_range(images[chunk]).to(device)
            samples = bare.sample(
                x, masks["mse_center"][chunk].to(device), 4, generator(seed, -3, rank, i, device=device)
            )
            draws.append(mse(to_unit(samples.flatten(0, 1)), to_unit(x.repeat_interleave(4, 0))).view(-1, 4))
        draws = gather(torch.cat(draws))[:n]  # (n, 4)
        results["sample_center"], results["best4_center"] = draws[:, 0].mean().item(), draws.min(1).values.mean().item()
    model.train()
    return results
