"""Device hygiene without a GPU (issue 24): the bugs that first show on CUDA, caught on a CPU.

Inside ``torch.device("meta")`` every tensor made without a ``device=`` lands on the meta device, where it has no data:
mixing it with the real tensors of a training step, a validation, an inpainting, a render at 2x, a draw of the
sampler, a refinement step or a Poisson fitting step fails at once. The model and data stay on the test device
(``HYPERSIREN_TEST_DEVICE``, the CPU by default), so the same tests run on a lent GPU.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest
import safetensors.torch
import torch

from hypersiren import HyperSiren, HyperSirenConfig, fit, make_observed
from hypersiren.prior.refine import refine
from hypersiren.siren import Siren, grid
from hypersiren.training import batch_indices, validation_masks
from hypersiren.training.batches import training_batch
from hypersiren.training.ema import EMA
from hypersiren.training.losses import prior_loss, sampler_loss
from hypersiren.utils import generator

RECIPE = SimpleNamespace(
    seed=0,
    hflip=True,
    context_min=10,
    context_max=257,
    context_sampling="exact",
    context_log_uniform=True,
    hole_prob=0.5,
    context_dense_prob=0.3,
    context_empty_prob=0.1,
    render_pixels=64,
    offgrid_points=40,
    offgrid_targets="bilinear",
)


def strict() -> contextlib.AbstractContextManager:
    """Tensors made without a device go to ``meta``: any of them meeting a real one is an error."""
    return torch.device("meta")


@pytest.fixture
def model(device) -> HyperSiren:
    torch.manual_seed(0)
    sampler = dict(sampler="pixel_flow", sampler_width=8, sampler_stages=1, sampler_steps=2)
    config = HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16, cell_input=True, **sampler)
    return HyperSiren(config).to(device)


def faces(n: int, side: int, device) -> torch.Tensor:
    values = torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(side)) * 255
    return values.to(torch.uint8).to(device)


@pytest.mark.parametrize("train_sampler", [False, True])
def test_a_training_step_makes_every_tensor_on_its_device(model, device, train_sampler):
    images, hires = faces(32, 16, device), faces(32, 32, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ema = EMA(model, 0.9)
    with strict():
        idx = batch_indices(0, 5, len(images), 4, device=device)
        batch = training_batch(RECIPE, 5, 0, images[idx], hires[idx], device)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            if train_sampler:
                noise = generator(0, 5, 0, 4, device=device)
                loss = sampler_loss(model(batch.images, batch.observed, truth=batch.images, generator=noise))
            else:
                out = model(batch.images, batch.observed, points=batch.points, point_scales=batch.point_scales)
        if not train_sampler:
            loss = prior_loss(out, batch.target, latent_reg=0.1, param_reg=1e-4, seen=batch.seen, log_mse=True)
        loss.total.backward()
        optimizer.step()
        ema.update(model)
    tensors = [t for t in batch if isinstance(t, torch.Tensor)]
    assert {t.device.type for t in tensors} == {device.type} and loss.total.isfinite()
    assert all(v.device.type == device.type for v in ema.shadow.values())


def test_validation_inpainting_render_sample_and_refinement_make_every_tensor_on_their_device(model, device):
    model.eval()
    images = faces(4, 16, device).float() / 127.5 - 1
    with strict():
        for name, observed in validation_masks(4, 16, 16, 0).items():
            out = model(images, observed.to(device), size=(32, 32))  # validation renders the hires side too
            assert out.images.shape == (4, 3, 32, 32), name
        observed = make_observed("center", 4, 16, 16).to(device)
        assert model.inpaint(images, observed).device.type == device.type
        assert model.render(images, observed, 32).shape == (4, 3, 32, 32)
        drawn = model.sample(images, observed, 2, torch.Generator(device).manual_seed(0), size=32)
        assert drawn.shape == (4, 2, 3, 32, 32)
        refined = refine(model, images, observed, 1, 1e-3)
    assert refined.images.device.type == device.type


def test_a_poisson_fitting_step_makes_every_tensor_on_its_device(device):
    torch.manual_seed(0)
    siren = Siren(2, 16, 1, 1).to(device)
    coords = grid(16, 16, device=device)
    image = (coords[:, :1] * coords[:, 1:]).to(device)  # (N, 1)
    with strict():
        target = torch.cat([coords[:, 1:], coords[:, :1]], 1)  # the gradient of y x: (x, y)
        result = fit(siren, coords, target, steps=1, supervise="gradient", reference=image, progress=False)
    assert result.prediction.device.type == device.type


def test_the_sine_runs_in_the_autocast_dtype_on_every_device(model, device, monkeypatch):
    """Under bf16 autocast the pre-activation and its sine are bf16, on the CPU as on CUDA (the shipped priors were
    trained so); outside autocast fp32. A device whose autocast upcast the sine would change what training sees."""
    seen = []
    sine = torch.sin

    def spy(x, *args, **kwargs):
        seen.append(x.dtype)
        return sine(x, *args, **kwargs)

    monkeypatch.setattr(torch, "sin", spy)
    images = faces(2, 16, device).float() / 127.5 - 1
    observed = make_observed("center", 2, 16, 16).to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        model(images, observed)
    assert seen and set(seen) == {torch.bfloat16}, seen
    seen.clear()
    model(images, observed)
    assert set(seen) == {torch.float32}, seen


def test_the_ema_stays_on_the_models_device_after_a_resume(model, device, tmp_path):
    ema = EMA(model, 0.9)
    ema.update(model)
    safetensors.torch.save_file({k: v.cpu() for k, v in ema.state_dict().items()}, str(tmp_path / "ema.safetensors"))
    again = EMA(model, 0.9)
    again.load_state_dict(safetensors.torch.load_file(str(tmp_path / "ema.safetensors")))  # read onto the CPU
    assert all(v.device.type == device.type for v in again.shadow.values()) and again.num_updates == 1
    for name, value in ema.shadow.items():
        assert torch.equal(value, again.shadow[name]), name


def test_the_generators_of_a_step_live_on_its_device(device):
    g = generator(0, 1, 0, 3, device=device)
    assert g.device.type == device.type
    images = faces(4, 16, device)
    batch = training_batch(RECIPE, 1, 0, images, None, device)
    again = training_batch(RECIPE, 1, 0, images, None, device)
    for a, b in zip(batch, again, strict=True):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b, "the step's draws are seeded on the device"


@pytest.mark.gpu
def test_a_cuda_training_step_never_waits_for_the_host():
    """On CUDA, a training step (after a warm-up step) with torch's sync debug mode set to raise: no copy to or from
    the host, no ``.item()``, nothing that waits for the device (the per-step syncs of issue 24)."""
    cuda = torch.device("cuda")
    torch.manual_seed(0)
    config = HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16, cell_input=True)
    model = HyperSiren(config).to(cuda)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ema = EMA(model, 0.9)
    images, hires = faces(32, 16, cuda), faces(32, 32, cuda)

    def step(i: int) -> None:
        idx = batch_indices(0, i, len(images), 4, device=cuda)
        batch = training_batch(RECIPE, i, 0, images[idx], hires[idx], cuda)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(batch.images, batch.observed, points=batch.points, point_scales=batch.point_scales)
        prior_loss(out, batch.target, latent_reg=0.1, param_reg=1e-4, seen=batch.seen, log_mse=True).total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.update(model)

    step(0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step(1)
    finally:
        torch.cuda.set_sync_debug_mode("default")
