"""The shipped priors give the outputs they gave when they were shipped, on a fixed input (every move of the
code keeps them): the rendering at the model's own side and at twice it, and two seeded draws of a prior with a
sampler, against values stored in
``tests/assets/shipped_outputs.safetensors``.

Regenerate the reference only when a prior is reshipped, or its renderings move, on purpose: ``python
tests/prior/test_shipped_outputs.py``. On the development machine the outputs are bit-identical to it; the tolerance
covers other CPUs' kernels. History: the own-side values are those of 0.1's code (before the regroup into rooms); the
2x values moved once, when renderings at other sides came to register with the real image (pixel centres); the
celeba32 values moved when it was reshipped with its any-resolution stage and its sampler (issues 22 and 23);
its samples alone when its sampler's prior was trained further (stage 4; regenerated on an Intel CPU whose kernels
move the renderings by up to 6e-7, so the renderings' values were kept as the AMD machine wrote them). All of them
moved on 2026-12-07, when celeba32 was reshipped with its 4x stage and the pixel-flow sampler and celeba64 with
its off-lattice stage (issues 28 and 29); celeba32's samples alone when its pixel flow trained further (stage 3b,
its renderings bit-identical), and again when it trained further still and drew by the SDE (stages 3c and 3d,
``sampler_churn`` 1), and when a fresh sampler replaced it (the long run with logit-normal times, its renderings
bit-identical).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

import hypersiren.prior.pretrained as pretrained
from hypersiren import HyperSiren, make_observed

REFERENCE = Path(__file__).resolve().parents[1] / "assets" / "shipped_outputs.safetensors"


def outputs(name: str) -> dict[str, torch.Tensor]:
    """Two centre holes and two 10% random contexts on seeded noise; every 4th pixel of each rendering."""
    model = HyperSiren.from_pretrained(name)
    size = model.config.image_size
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, size, size, generator=g) * 2 - 1
    context = make_observed("random", 2, size, size, num_context=size * size // 10, generator=g)
    observed = torch.cat([make_observed("center", 2, size, size), context])
    with torch.no_grad():
        own = model(images, observed).images  # (4, 3, S, S), not clamped
        twice = model.render(images, observed, 2 * size)  # (4, 3, 2S, 2S)
        drawn = {}
        if model.sampler is not None:  # two seeded draws of each face from the shipped sampler
            draws = model.sample(images, observed, 2, generator=torch.Generator().manual_seed(1))  # (4, 2, 3, S, S)
            drawn = {f"{name}_samples": draws[..., ::4, ::4].contiguous()}
    return {f"{name}_own": own[..., ::4, ::4].contiguous(), f"{name}_x2": twice[..., ::4, ::4].contiguous(), **drawn}


@pytest.mark.parametrize("name", pretrained.available())
def test_a_shipped_prior_gives_its_shipped_outputs(name):
    reference = safetensors.torch.load_file(str(REFERENCE))
    for key, value in outputs(name).items():
        assert key in reference, f"no reference for {key}: regenerate {REFERENCE.name} (see the module docstring)"
        err = (value - reference[key]).abs().max().item()
        assert err <= 2e-5, f"{key}: the outputs moved by up to {err:.2e} from the shipped ones"


if __name__ == "__main__":
    torch.set_num_threads(2)
    values = {k: v for name in pretrained.available() for k, v in outputs(name).items()}
    safetensors.torch.save_file(values, str(REFERENCE))
    print(f"wrote {REFERENCE} ({', '.join(values)})")
