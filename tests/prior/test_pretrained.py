"""Models by name: shipped priors from any working directory, checkpoint folders, clear errors, model cards."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch

import hypersiren.prior.pretrained as pretrained
from hypersiren import HyperSiren, HyperSirenConfig, make_observed
from hypersiren.prior import CheckpointError


def _batch(size: int = 16):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, size, size, generator=g) * 2 - 1
    observed = torch.rand(2, 1, size, size, generator=g) < 0.5
    return images, observed


def test_shipped_prior_loads_by_name_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no hypersiren/ folder below the working directory
    assert pretrained.DEFAULT in pretrained.available()
    model = HyperSiren.from_pretrained(pretrained.DEFAULT)
    assert not model.training and model.config.channels == 3 and model.config.image_size >= 16


@pytest.mark.parametrize("name", pretrained.available())
def test_every_shipped_prior_completes_at_its_size_with_a_true_card(name):
    """Each shipped prior loads strictly, keeps the observed pixels, renders larger, and its card names its
    data, machine and test metrics (no template text)."""
    model = HyperSiren.from_pretrained(name)
    size = model.config.image_size
    images, observed = _batch(size)
    completed = model.inpaint(images, observed)
    assert completed.shape == (2, 3, size, size) and completed.abs().max() <= 1
    assert torch.equal(completed[observed.expand_as(images)], images[observed.expand_as(images)])
    assert model.render(images, observed, 2 * size, 2 * size).shape == (2, 3, 2 * size, 2 * size)
    card = (pretrained.path(name) / "README.md").read_text()
    for text in (f'from_pretrained("{name}")', "## Test metrics", "2 CPU cores", "train/celeba.py --config"):
        assert text in card, (name, text)
    assert "@@" not in card and "More Information Needed" not in card


def test_unknown_name_lists_the_shipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match=f"unknown model 'celeba99'.*{pretrained.DEFAULT}"):
        HyperSiren.from_pretrained("celeba99")
    # the old README's repository-relative path, from elsewhere: our error, not huggingface_hub's HFValidationError
    with pytest.raises(CheckpointError, match=f"no such folder.*{pretrained.DEFAULT}"):
        HyperSiren.from_pretrained("hypersiren/pretrained/celeba32")
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is a file"):
        HyperSiren.from_pretrained(tmp_path / "weights.safetensors")


def test_registry_discovers_every_subfolder_with_a_config(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny()).eval()
    model.save_pretrained(tmp_path / "tiny16")
    (tmp_path / "notes").mkdir()  # no config.json: not a prior
    assert pretrained.available() == ["tiny16"]
    assert pretrained.path("tiny16") == tmp_path / "tiny16"
    with pytest.raises(KeyError, match="shipped: tiny16"):
        pretrained.path("notes")
    loaded = HyperSiren.from_pretrained("tiny16")
    images, observed = _batch()
    assert torch.equal(model(images, observed).images, loaded(images, observed).images)


def test_checkpoint_folder_without_config_uses_the_run_config(tmp_path):
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny()).eval()
    run = tmp_path / "run"
    ckpt = run / "checkpoint-3"
    ckpt.mkdir(parents=True)
    # as Accelerate's save_state of a 2-process run writes it: DDP's `module.` prefix, no config.json
    state = {f"module.{k}": v.contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, str(ckpt / "model.safetensors"))
    (ckpt / "step.json").write_text(json.dumps({"step": 3}))
    with pytest.raises(CheckpointError, match="config.yaml.*missing: give the run folder"):
        HyperSiren.from_pretrained(ckpt)
    fields = HyperSirenConfig.tiny().__dict__
    (run / "config.yaml").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()) + "max_steps: 6\nlr: 0.001\n")
    loaded = HyperSiren.from_pretrained(ckpt)
    images, observed = _batch()
    assert torch.equal(model(images, observed).images, loaded(images, observed).images)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json in .*save_pretrained"):
        HyperSiren.from_pretrained(tmp_path / "empty")


def test_export_card_states_only_what_is_known(tmp_path):
    model = HyperSiren(HyperSirenConfig.tiny())
    model.save_pretrained(tmp_path / "plain")
    card = (tmp_path / "plain" / "README.md").read_text()
    assert "pushed to the Hub" not in card and "More Information Needed" not in card, card
    assert "No training record" in card and "library_name: hypersiren" in card
    training = {
        "data": "x.npz",
        "train_images": 48,
        "val_images": 8,
        "steps": 6,
        "batch_size": 4,
        "minutes": 0.1,
        "device": "cpu",
        "overrides": {"max_steps": 6},
        "metrics": {"mse_ctx100": 0.0123},
    }
    model.save_pretrained(tmp_path / "trained", model_card_kwargs={"training": training})
    card = (tmp_path / "trained" / "README.md").read_text()
    for text in ("`x.npz`: 48 training images", "6 steps of batch 4", "max_steps: 6", "| `mse_ctx100` | 0.0123 |"):
        assert text in card, (text, card)


# The mean of 16 draws of a shipped sampler against its mean completion, over the centre hole of the 6 bundled
# pictures (PSNR in dB on [0, 1]), measured once when celeba32 was reshipped (2026-12-07): 33.1 / 32.9 / 33.7 dB for
# seeds 0 / 1 / 2 (one draw alone: 23.1 / 20.2 / 22.1); re-measured with its stage 3d drawn by the SDE: 33.2 / 32.2 /
# 32.2 (20.7 / 21.9 / 22.2); and with the sampler that replaced it (one long run, logit-normal times, wider draws):
# 31.8 / 31.0 / 31.7 (19.8 / 20.5 / 20.5). The bound sits a decibel under the lowest, so that a sampler drifting away
# from the mean prior (its 16-draw mean near one draw's 20 dB) fails while another CPU's rounding does not.
DRAWS_MEAN_NEAR_INPAINT_DB = {"celeba32": 30.0}


@pytest.mark.parametrize("name", [n for n in pretrained.available() if DRAWS_MEAN_NEAR_INPAINT_DB.get(n)])
def test_the_mean_of_many_draws_is_near_the_mean_completion(name):
    from hypersiren.app.sources import demo_images
    from hypersiren.metrics.image import psnr, to_unit

    model = HyperSiren.from_pretrained(name)
    size = model.config.image_size
    images = demo_images(size).float() / 127.5 - 1
    observed = make_observed("center", len(images), size, size)
    mean = model.inpaint(images, observed)
    draws = model.sample(images, observed, 16, generator=torch.Generator().manual_seed(0))  # (N, 16, 3, S, S)
    hole = ~observed
    agreement = psnr(to_unit(draws.mean(1)), to_unit(mean), hole).mean().item()
    spread = psnr(to_unit(draws[:, 0]), to_unit(mean), hole).mean().item()
    assert agreement >= DRAWS_MEAN_NEAR_INPAINT_DB[name], (agreement, spread)
    assert agreement > spread + 6, "the mean of 16 draws should be ~12 dB closer to the mean than one draw"
