"""The sampler: completions drawn through a latent, each a SIREN; seeded, observed pixels kept, at any size; its
training path; and a clear message from a model without one."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import tiny_sampler

from hypersiren import HyperSiren, HyperSirenConfig
from hypersiren.prior.sampler import FlowPrior, gaussian_kl


def tiny(kind: str = "flow") -> HyperSiren:
    return tiny_sampler(16, kind)  # a sampler as if it had learnt to use its latent


def batch(b: int = 3, side: int = 16):
    g = torch.Generator().manual_seed(1)
    return torch.rand(b, 3, side, side, generator=g) * 2 - 1, torch.rand(b, 1, side, side, generator=g) < 0.3


@pytest.mark.parametrize("kind", ["flow", "gaussian"])
def test_samples_are_seeded_keep_the_observed_pixels_and_differ(kind):
    model = tiny(kind)
    images, observed = batch()
    a = model.sample(images, observed, 4, torch.Generator().manual_seed(0))
    assert a.shape == (3, 4, 3, 16, 16) and a.abs().max() <= 1 and a.grad_fn is None
    assert torch.equal(a, model.sample(images, observed, 4, torch.Generator().manual_seed(0))), "same generator"
    assert not torch.equal(a, model.sample(images, observed, 4, torch.Generator().manual_seed(1))), "another one"
    kept = observed[:, None].expand_as(a)
    assert torch.equal(a[kept], images[:, None].expand_as(a)[kept]), "observed pixels kept in every sample"
    assert (a[:, 0] - a[:, 1]).abs()[~kept[:, 0]].max() > 1e-3, "two samples of a face differ in the hole"


def test_sample_at_a_size_renders_each_samples_siren():
    model = tiny()
    images, observed = batch()
    large = model.sample(images, observed, 2, torch.Generator().manual_seed(0), size=32)
    own = model.sample(images, observed, 2, torch.Generator().manual_seed(0))
    assert large.shape == (3, 2, 3, 32, 32)
    # the same SIRENs: rendered at the model's own side, the large call's samples are the own call's raw renders
    again = model.sample(images, observed, 2, torch.Generator().manual_seed(0), size=16)
    assert torch.equal(again[~observed[:, None].expand_as(own)], own[~observed[:, None].expand_as(own)])


def test_nothing_observed_draws_faces_and_everything_observed_gives_the_image():
    model = tiny()
    images, _ = batch()
    nothing = torch.zeros(3, 1, 16, 16, dtype=torch.bool)
    drawn = model.sample(images, nothing, 2, torch.Generator().manual_seed(0))
    assert drawn.shape == (3, 2, 3, 16, 16) and drawn.isfinite().all()
    full = model.sample(images, ~nothing, 2, torch.Generator().manual_seed(0))
    assert torch.equal(full, images[:, None].expand_as(full))


def test_a_model_without_a_sampler_says_so():
    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16))
    with pytest.raises(ValueError, match="no sampler"):
        model.sample(*batch(), 2)


def test_the_mean_is_unchanged_by_the_sampler_and_a_zero_noise_sampler_is_the_mean():
    model = tiny()
    images, observed = batch()
    plain = HyperSiren(HyperSirenConfig(**{**vars(model.config), "sampler": "none"})).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("sampler.")})
    assert torch.equal(model.inpaint(images, observed), plain.inpaint(images, observed))
    model.sampler.start_from(model.encoder)
    with torch.no_grad():
        model.sampler.encoder.inject.weight.zero_()
    drawn = model.sample(images, observed, 2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(drawn[:, 0], model.inpaint(images, observed), rtol=0, atol=1e-6)


def test_the_training_path_reads_the_truth_and_returns_its_terms():
    model = tiny().train()
    images, observed = batch()
    out = model(images, observed, truth=images, generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (3, 3, 16, 16) and out.sampler.kl.shape == (3,) and out.sampler.prior_loss.shape == (3,)
    (out.images.square().mean() + out.sampler.kl.mean() + out.sampler.prior_loss.mean()).backward()
    for name, p in model.sampler.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches sampler.{name}"
    with pytest.raises(ValueError, match="no sampler"):
        HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid"))(images, observed, truth=images)


def test_gaussian_kl_of_bf16_codes_near_the_prior_is_float32_and_never_negative():
    """A posterior near N(0, I) (a KL near zero) given in bf16, as under autocast: computed in bf16 its 4,096 terms
    summed to noise of either sign (the first sampler screens logged negative KLs); in float32 it stays >= 0."""
    g = torch.Generator().manual_seed(0)
    mu = (torch.randn(64, 16, 4, 4, generator=g) * 0.01).bfloat16()
    logvar = (torch.randn(64, 16, 4, 4, generator=g) * 0.01).bfloat16()
    kl = gaussian_kl(mu, logvar, torch.zeros_like(mu), torch.zeros_like(logvar))
    exact = 0.5 * (mu.double() ** 2 + logvar.double().exp() - 1 - logvar.double()).flatten(1).sum(1)
    assert kl.dtype == torch.float32 and (kl >= 0).all()
    torch.testing.assert_close(kl.double(), exact, rtol=1e-3, atol=1e-6)


def test_gaussian_kl_closed_form_and_the_flow_sampler_moves_noise_by_its_velocity():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    expected = 0.5 * (1.0 + 1 - 1 - 0) + 0.5 * (4.0 - 1 - math.log(4.0))
    assert gaussian_kl(mu, logvar, torch.zeros_like(mu), torch.zeros_like(mu)).item() == pytest.approx(expected)
    flow = FlowPrior(8, 2, 8)
    with torch.no_grad():
        flow.out[-1].weight.zero_()
        flow.out[-1].bias.fill_(0.5)  # a constant velocity: z1 = z0 + 0.5
    deep = torch.randn(2, 8, 4, 4)
    z0 = torch.randn((2, 2, 4, 4), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(flow.sample(deep, z0, 4), z0 + 0.5)


def test_strict_round_trip_with_the_samplers_weights_and_old_checkpoints_load(tmp_path):
    model = tiny()
    model.save_pretrained(tmp_path / "with")
    loaded = HyperSiren.from_pretrained(tmp_path / "with")
    images, observed = batch()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(loaded.sample(images, observed, 2, g()), model.sample(images, observed, 2, g()))
    HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid")).save_pretrained(tmp_path / "without")
    assert HyperSiren.from_pretrained(tmp_path / "without").sampler is None


def test_a_0_1_config_json_loads_without_a_sampler_and_on_the_corner_grid(tmp_path):
    """A config.json written before the sampler and the pixel-centre convention existed: no sampler, corners."""
    import json

    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid"))
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    for name in ("coordinates", "cell_input", "cell_max_scale", "sampler", "sampler_dim", "sampler_width",
                 "sampler_steps"):  # fmt: skip
        del config[name]
    (tmp_path / "config.json").write_text(json.dumps(config))
    old = HyperSiren.from_pretrained(tmp_path)
    assert old.sampler is None and old.config.coordinates == "corners" and not old.config.cell_input
    assert HyperSiren(config).config.coordinates == "corners", "a dict read from a 0.1 config.json, directly"
    with pytest.raises(ValueError, match="no sampler"):
        old.sample(*batch(), 2)
