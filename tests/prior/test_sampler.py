"""The sampler: completions drawn by a conditional flow from the mean completion, each a SIREN; seeded, observed
pixels kept, at any size; its training path; and a clear message from a model without one (or with a retired one)."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from helpers import tiny_sampler

from hypersiren import HyperSiren, HyperSirenConfig
from hypersiren.prior.sampler import Sampler, TimeBlock


def batch(b: int = 3, side: int = 16):
    g = torch.Generator().manual_seed(1)
    return torch.rand(b, 3, side, side, generator=g) * 2 - 1, torch.rand(b, 1, side, side, generator=g) < 0.3


def test_samples_are_seeded_keep_the_observed_pixels_and_differ():
    model = tiny_sampler()
    images, observed = batch()
    a = model.sample(images, observed, 4, torch.Generator().manual_seed(0))
    assert a.shape == (3, 4, 3, 16, 16) and a.abs().max() <= 1 and a.grad_fn is None
    assert torch.equal(a, model.sample(images, observed, 4, torch.Generator().manual_seed(0))), "same generator"
    assert not torch.equal(a, model.sample(images, observed, 4, torch.Generator().manual_seed(1))), "another one"
    kept = observed[:, None].expand_as(a)
    assert torch.equal(a[kept], images[:, None].expand_as(a)[kept]), "observed pixels kept in every sample"
    assert (a[:, 0] - a[:, 1]).abs()[~kept[:, 0]].max() > 1e-2, "two samples of a face differ in the hole"


def test_each_draw_is_a_siren_of_the_drawn_face_at_any_size():
    """A draw is the mean prior's SIREN of the drawn face (every pixel observed): sample(size=S) renders it at S, and
    at the model's own side its hole is that SIREN's rendering."""
    model = tiny_sampler()
    images, observed = batch()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    large = model.sample(images, observed, 2, g(), size=32)
    own = model.sample(images, observed, 2, g())
    assert large.shape == (3, 2, 3, 32, 32)
    again = model.sample(images, observed, 2, g(), size=16)
    hole = ~observed[:, None].expand_as(own)
    assert torch.equal(again[hole], own[hole]), "the same SIRENs, rendered at the model's side"
    generated = model.draw(images, observed, 2, g())
    assert generated.batch_size == 6 and generated.grid.shape[0] == 6, "B K SIRENs, image-major"


def test_nothing_observed_draws_faces_and_everything_observed_gives_the_image():
    model = tiny_sampler()
    images, _ = batch()
    nothing = torch.zeros(3, 1, 16, 16, dtype=torch.bool)
    drawn = model.sample(images, nothing, 2, torch.Generator().manual_seed(0))
    assert drawn.shape == (3, 2, 3, 16, 16) and drawn.isfinite().all() and (drawn[:, 0] != drawn[:, 1]).any()
    full = model.sample(images, ~nothing, 2, torch.Generator().manual_seed(0))
    assert torch.equal(full, images[:, None].expand_as(full))


def test_pictures_of_another_side_are_drawn_at_the_models_and_rendered_at_theirs():
    model = tiny_sampler()
    images, observed = batch(side=24)
    drawn = model.sample(images, observed, 2, torch.Generator().manual_seed(0))
    assert drawn.shape == (3, 2, 3, 24, 24)
    kept = observed[:, None].expand_as(drawn)
    assert torch.equal(drawn[kept], images[:, None].expand_as(drawn)[kept])
    with pytest.raises(ValueError, match="noise must be shaped"):  # the noise lives at the model's side
        model.sample(images, observed, 2, noise=torch.zeros(6, 3, 24, 24))


def test_a_model_without_a_sampler_says_so():
    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16))
    with pytest.raises(ValueError, match="no sampler"):
        model.sample(*batch(), 2)
    with pytest.raises(ValueError, match="no sampler"):
        model(*batch(), truth=batch()[0])


def test_the_mean_is_the_sampler_free_models_and_a_still_flow_draws_the_mean_completion():
    model = tiny_sampler()
    images, observed = batch()
    plain = HyperSiren(HyperSirenConfig(**{**vars(model.config), "sampler": "none"})).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("sampler.")})
    assert torch.equal(model.inpaint(images, observed), plain.inpaint(images, observed))
    with torch.no_grad():
        model.sampler.net.out[-1].weight.zero_()  # velocity zero: the flow leaves the noise where it starts, at 0
    with torch.no_grad():  # as inpaint renders: the fused path
        mean, latent, _ = model.mean_completion(images, observed)
    noise = torch.randn(3, 3, 16, 16)
    drawn = model.sampler.complete(mean, observed, latent.grid, noise * 0)
    assert torch.equal(drawn, mean)
    torch.testing.assert_close(mean, model.inpaint(images, observed), rtol=0, atol=0)


def test_the_flow_moves_the_noise_by_its_velocity_on_the_missing_pixels_only():
    sampler = Sampler(channels=3, code_dim=0, width=8, stages=1, blocks=1, steps=4, scale=0.5)
    with torch.no_grad():
        sampler.net.out[-1].bias.fill_(0.2)  # a constant velocity: the end point is noise + 0.2
    mean = torch.rand(2, 3, 8, 8) * 0.4 - 0.2
    observed = torch.rand(2, 1, 8, 8) < 0.5
    noise = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.3
    drawn = sampler.complete(mean, observed, None, noise)
    expected = torch.where(observed, mean, (mean + 0.5 * (noise + 0.2)).clamp(-1, 1))
    torch.testing.assert_close(drawn, expected, rtol=0, atol=1e-6)


def gaussian_velocity(mean: float, std: float):
    """The exact velocity of the flow from N(0, 1) to N(mean, std^2) on the path ``x_t = t r + (1 - t) z``:
    ``E[r - z | x_t]``, both conditional means Gaussian regressions on ``x_t``."""

    def velocity(state, t, *_):
        t = t[:, None, None, None]
        variance = t**2 * std**2 + (1 - t) ** 2
        centred = state - t * mean
        return mean + (t * std**2 - (1 - t)) * centred / variance

    return velocity


@pytest.mark.parametrize("churn", [0.0, 1.0, 3.0])
def test_draws_with_an_exact_velocity_have_the_datas_distribution_for_every_churn(churn):
    """The ODE (churn 0) and the SDE of the same marginals (churn > 0) both carry N(0, 1) to the data's
    distribution: here a Gaussian whose exact velocity is known. Tolerances measured once at 64 steps and 20,000
    draws (mean within 0.01, standard deviation within 0.015 of 0.3: Euler's error at 64 steps is ~0.01)."""
    sampler = Sampler(channels=1, code_dim=0, width=8, stages=1, blocks=1, steps=64, scale=1.0, churn=churn)
    sampler.velocity = gaussian_velocity(0.0, 0.3)
    mean, observed = torch.zeros(20000, 1, 1, 1), torch.zeros(20000, 1, 1, 1, dtype=torch.bool)
    noise = sampler.noise(20000, 1, torch.Generator().manual_seed(0))
    assert noise.shape == (20000, 64 if churn else 1, 1, 1, 1), "the start, and each step's fresh noise with churn"
    drawn = sampler.complete(mean, observed, None, noise)
    assert abs(drawn.mean()) < 0.01 and abs(drawn.std() - 0.3) < 0.015


class GaussianClean(torch.nn.Module):
    """The exact clean estimate of the flow from N(0, 1) to N(mean, std^2) on ``x_t = t r + (1 - t) z``:
    ``E[r | x_t]``, read from the state (the first channel of the U-Net's input)."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, inputs, t):
        state, t = inputs[:, :1], t[:, None, None, None]
        variance = t**2 * self.std**2 + (1 - t) ** 2
        return self.mean + t * self.std**2 * (state - t * self.mean) / variance


@pytest.mark.parametrize("churn", [0.0, 1.0])
def test_a_clean_target_derives_the_velocity_and_draws_the_datas_distribution(churn):
    """target='clean': the U-Net's output is the clean residual, the velocity ``(r_hat - x_t) / (1 - t)`` (no clip in a
    draw). With the exact clean estimate of a Gaussian, draws reach its distribution (the tolerances of the velocity
    test above); with a constant estimate every draw lands on it at the last step, whatever the noise (64 steps: the
    last three would fall short if a draw clipped 1 - t as the loss does)."""
    sampler = Sampler(channels=1, code_dim=0, width=8, stages=1, blocks=1, steps=64, scale=1.0, churn=churn)
    sampler.target = "clean"
    sampler.net = GaussianClean(0.0, 0.3)
    mean, observed = torch.zeros(20000, 1, 1, 1), torch.zeros(20000, 1, 1, 1, dtype=torch.bool)
    drawn = sampler.complete(mean, observed, None, sampler.noise(20000, 1, torch.Generator().manual_seed(0)))
    assert abs(drawn.mean()) < 0.01 and abs(drawn.std() - 0.3) < 0.015
    constant = Sampler(channels=3, code_dim=0, width=8, stages=1, blocks=1, steps=64, scale=0.5, churn=churn)
    constant.target = "clean"
    with torch.no_grad():
        constant.net.out[-1].bias.fill_(0.2)
    mean, observed = torch.rand(2, 3, 8, 8) * 0.4 - 0.2, torch.rand(2, 1, 8, 8) < 0.5
    drawn = constant.complete(mean, observed, None, constant.noise(2, 8, torch.Generator().manual_seed(0)))
    torch.testing.assert_close(drawn, torch.where(observed, mean, mean + 0.5 * 0.2), rtol=0, atol=1e-5)


class TimeRecorder(torch.nn.Module):
    """A velocity network that returns zeros and keeps the times it was asked at."""

    def forward(self, inputs, t):
        self.t = t
        return torch.zeros_like(inputs[:, :1]).expand(-1, 3, -1, -1)


def test_the_training_times_are_uniform_or_logit_normal():
    """time='uniform' draws t uniform in [0, 1] (std 0.289, half of them in the middle half); time='logit_normal'
    sigmoid(N(0, 1)) (std 0.208, 73% in the middle half). 20,000 draws: the std within 0.01, the share within 0.02."""
    truth = torch.rand(20000, 3, 1, 1) * 2 - 1
    observed = torch.zeros(20000, 1, 1, 1, dtype=torch.bool)
    for time, std, middle in (("uniform", 0.289, 0.50), ("logit_normal", 0.208, 0.73)):
        sampler = Sampler(channels=3, code_dim=0, width=8, stages=1, blocks=1, steps=2, scale=1.0, time=time)
        sampler.net = TimeRecorder()
        sampler.loss(truth, torch.zeros_like(truth), observed, None, torch.Generator().manual_seed(0))
        t = sampler.net.t
        assert t.min() >= 0 and t.max() < 1 and abs(t.std() - std) < 0.01, time
        assert abs(((t > 0.25) & (t < 0.75)).float().mean() - middle) < 0.02, time


def test_a_run_may_change_the_training_time_but_not_the_target(tmp_path):
    """init_from a sampler: sampler_time (how training draws t, no weight) may change; sampler_target (what the weights
    mean) may not, and the message names it."""
    from hypersiren.training.runs import init_weights
    from hypersiren.utils.config import ConfigError

    prior = tiny_sampler()
    prior.save_pretrained(tmp_path / "prior")
    config = prior.config
    model = HyperSiren(HyperSirenConfig(**{**config.__dict__, "sampler_time": "logit_normal"}))
    init_weights(model, str(tmp_path / "prior"))
    model.eval()  # as the prior loads
    images, observed = batch()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(model.sample(images, observed, 2, g()), prior.sample(images, observed, 2, g()))
    with pytest.raises(ConfigError, match="sampler_target"):
        init_weights(
            HyperSiren(HyperSirenConfig(**{**config.__dict__, "sampler_target": "clean"})), str(tmp_path / "prior")
        )


def test_a_churned_draw_is_seeded_keeps_the_observed_pixels_and_needs_its_fresh_noise():
    model = tiny_sampler()
    model.sampler.churn = 1.0
    images, observed = batch()
    g = lambda seed=0: torch.Generator().manual_seed(seed)  # noqa: E731
    a = model.sample(images, observed, 3, g())
    assert torch.equal(a, model.sample(images, observed, 3, g())) and not torch.equal(
        a, model.sample(images, observed, 3, g(1))
    )
    kept = observed[:, None].expand_as(a)
    assert torch.equal(a[kept], images[:, None].expand_as(a)[kept])
    model.sampler.churn = 0.0
    assert not torch.equal(a, model.sample(images, observed, 3, g())), "the fresh noise changes the draws"
    model.sampler.churn = 1.0
    with pytest.raises(ValueError, match=r"noise must be shaped \(6, 2, 3, 16, 16\)"):  # the start alone is not enough
        model.sample(images, observed, 2, noise=torch.zeros(6, 3, 16, 16))


def test_set_sampler_churn_changes_the_draws_and_the_saved_config_and_is_checked(tmp_path):
    from hypersiren.utils.config import ConfigError

    model = tiny_sampler()
    images, observed = batch()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    ode = model.sample(images, observed, 2, g())
    model.set_sampler_churn(2.0)
    assert model.sampler.churn == 2.0 and model.sampler.noise_draws == model.sampler.steps
    sde = model.sample(images, observed, 2, g())
    assert not torch.equal(ode, sde)
    model.save_pretrained(tmp_path / "churned")
    loaded = HyperSiren.from_pretrained(tmp_path / "churned")
    assert loaded.config.sampler_churn == 2.0 and torch.equal(loaded.sample(images, observed, 2, g()), sde)
    with pytest.raises(ConfigError, match="sampler_churn must be >= 0"):
        model.set_sampler_churn(-1.0)
    assert model.sampler.churn == 2.0 and model.config.sampler_churn == 2.0, "a refused churn changes nothing"
    with pytest.raises(ValueError, match="has no sampler"):
        HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid")).set_sampler_churn(1.0)


def test_the_flow_loss_counts_the_missing_pixels_only():
    """The loss is the mean squared velocity error over each image's missing pixels: the observed pixels' values
    (beyond what the mean completion carries) change nothing, and an image with nothing missing scores 0."""
    sampler = Sampler(channels=3, code_dim=4, width=8, stages=1, blocks=1, steps=2, scale=0.25)
    truth = torch.rand(3, 3, 8, 8) * 2 - 1
    observed = torch.rand(3, 1, 8, 8) < 0.5
    observed[2] = True
    mean = torch.where(observed, truth, torch.zeros_like(truth))
    codes = torch.randn(3, 4, 8, 8)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    loss = sampler.loss(truth, mean, observed, codes, g())
    assert loss.shape == (3,) and loss[2] == 0 and (loss[:2] > 0).all()
    # a zero velocity (as initialised): the error is |r - z|^2, r the scaled residual, over the missing pixels
    missing = (~observed).float()
    z = torch.randn(truth.shape, generator=g()) * missing
    residual = (truth - mean) / 0.25 * missing
    expected = ((residual - z) ** 2 * missing).flatten(1).sum(1) / (missing.flatten(1).sum(1) * 3).clamp(min=1)
    torch.testing.assert_close(loss, expected)


def test_the_training_path_trains_the_sampler_alone():
    model = tiny_sampler().train()
    with torch.no_grad():  # as after a first step: the blocks' zero-initialised last convolutions have moved
        for block in model.sampler.net.modules():
            if isinstance(block, TimeBlock):
                block.conv2.weight.normal_(0, 0.1)
    images, observed = batch()
    out = model(images, observed, truth=images, generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (3, 3, 16, 16) and out.sampler.loss.shape == (3,) and out.images.grad_fn is None
    torch.testing.assert_close(out.images, model.inpaint(images, observed), rtol=0, atol=0)
    out.sampler.loss.mean().backward()
    for name, p in model.sampler.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches sampler.{name}"
    for name, p in model.named_parameters():
        assert name.startswith("sampler.") or p.grad is None, f"the mean prior's {name} got a gradient"


def test_strict_round_trip_with_the_samplers_weights(tmp_path):
    model = tiny_sampler()
    model.save_pretrained(tmp_path / "with")
    loaded = HyperSiren.from_pretrained(tmp_path / "with")
    images, observed = batch()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(loaded.sample(images, observed, 2, g()), model.sample(images, observed, 2, g()))
    HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid")).save_pretrained(tmp_path / "without")
    assert HyperSiren.from_pretrained(tmp_path / "without").sampler is None


def test_a_checkpoint_with_a_retired_latent_sampler_loads_its_mean_and_says_what_it_lacks(tmp_path, caplog):
    """0.2.dev's latent samplers (sampler='flow' / 'gaussian', with sampler_dim) are retired: such a checkpoint
    loads its mean prior strictly, its sampler's weights are skipped with a warning, and sample() says why."""
    from safetensors.torch import load_file, save_file

    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16))
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("sampler")}
    config.update(sampler="flow", sampler_dim=4, sampler_width=16, sampler_steps=8)
    (tmp_path / "config.json").write_text(json.dumps(config))
    state = load_file(tmp_path / "model.safetensors")
    save_file({**state, "sampler.prior.out.2.weight": torch.zeros(4, 16, 3, 3)}, tmp_path / "model.safetensors")
    with caplog.at_level(logging.WARNING):
        old = HyperSiren.from_pretrained(tmp_path)
    assert "retired" in caplog.text and "pixel_flow" in caplog.text
    assert old.sampler is None and old.config.sampler == "none"
    images, observed = batch()
    assert torch.equal(old.inpaint(images, observed), model.inpaint(images, observed)), "the mean prior, strictly"
    with pytest.raises(ValueError, match="no sampler"):
        old.sample(images, observed, 2)


def test_a_0_1_config_json_loads_without_a_sampler_and_on_the_corner_grid(tmp_path):
    """A config.json written before the sampler and the pixel-centre convention existed: no sampler, corners."""
    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid"))
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    for name in [k for k in config if k.startswith("sampler")] + ["coordinates", "cell_input", "cell_max_scale"]:
        del config[name]
    (tmp_path / "config.json").write_text(json.dumps(config))
    old = HyperSiren.from_pretrained(tmp_path)
    assert old.sampler is None and old.config.coordinates == "corners" and not old.config.cell_input
    assert HyperSiren(config).config.coordinates == "corners", "a dict read from a 0.1 config.json, directly"
    with pytest.raises(ValueError, match="no sampler"):
        old.sample(*batch(), 2)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("sampler", "latent", "sampler is one of none, pixel_flow"),
        ("sampler_width", 12, "multiple of 8"),
        ("sampler_stages", 0, "sampler_stages must be >= 1"),
        ("sampler_scale", 0.0, "sampler_scale must be > 0"),
        ("sampler_churn", -0.5, "sampler_churn must be >= 0"),
        ("sampler_target", "noise", "sampler_target is one of velocity, clean"),
        ("sampler_time", "beta", "sampler_time is one of uniform, logit_normal"),
    ],
)
def test_bad_sampler_fields_are_named(field, value, message):
    from hypersiren.utils.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        HyperSirenConfig.tiny(encoder="grid", hypernet="grid", **{field: value})
