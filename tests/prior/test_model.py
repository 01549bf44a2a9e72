"""HyperSiren: shapes, hypernetwork outputs, SIREN init at start, gradients, strict save/load (the forward tests on
the test device, HYPERSIREN_TEST_DEVICE; `gpu`: the CUDA forward against the CPU)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hypersiren import HyperSiren, HyperSirenConfig, Siren
from hypersiren.prior import CheckpointError
from hypersiren.prior.hypernet import FullHypernet
from hypersiren.siren import grid
from hypersiren.siren.network import bias_bound, first_layer_bound, hidden_layer_bound
from hypersiren.utils import ConfigError

VARIANTS = [
    dict(encoder="conv", hypernet="film"),
    dict(encoder="conv", hypernet="full"),
    dict(encoder="paper_cnn", hypernet="full"),
    dict(encoder="set", hypernet="film"),
    dict(encoder="timm:resnet10t", hypernet="film"),
    dict(encoder="grid", hypernet="grid"),
    dict(encoder="grid", hypernet="grid", grid_stride=2, grid_scale=True),
    dict(encoder="grid", hypernet="grid", grid_stride=4, grid_global=False, grid_input=False),
    dict(encoder="grid", hypernet="grid", grid_stages=4, grid_width_mult=8, grid_mid_blocks=1, grid_attention=True),
]


def _batch(size: int = 16, b: int = 2, seed: int = 0, device: torch.device | str = "cpu"):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, 3, size, size, generator=g) * 2 - 1
    observed = torch.rand(b, 1, size, size, generator=g) < 0.3
    return images.to(device), observed.to(device)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
def test_shapes_and_gradients_reach_every_parameter(variant, device):
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(image_size=16, **variant)).to(device)
    images, observed = _batch(device=device)
    out = model(images, observed)
    assert out.images.shape == images.shape
    assert out.latent.code.shape == (2, model.config.latent_dim if variant.get("grid_global", True) else 0)
    out.images.pow(2).mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"no gradient reaches {no_grad}"


def test_full_hypernet_outputs_match_siren_names_and_shapes():
    model = HyperSiren(HyperSirenConfig.tiny(hypernet="full"))
    images, observed = _batch(32, b=3)
    generated = model(images, observed).generated
    expected = {n: (3, *p.shape) for n, p in Siren(2, 16, 1, 3).named_parameters()}
    assert {n: tuple(t.shape) for n, t in generated.params.items()} == expected
    assert not any(p.requires_grad for p in model.siren.parameters()), "the full hypernet's SIREN is a template"


def test_generated_siren_starts_siren_initialised():
    torch.manual_seed(0)
    siren = Siren(2, 64, 2, 3)
    hyper = FullHypernet(32, siren, hidden_features=32)
    params = hyper(torch.randn(256, 32)).params  # 256 generated SIRENs
    w0, w1, wl = params["net.0.linear.weight"], params["net.1.linear.weight"], params["last.weight"]
    # uniform(-a, a) has std a / sqrt(3); the latent adds a small perturbation on top
    for w, bound in [
        (w0, first_layer_bound(2)),
        (w1, hidden_layer_bound(64, 30.0)),
        (wl, hidden_layer_bound(64, 30.0)),
    ]:
        std = w.std().item()
        assert abs(std - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3), f"std {std} vs SIREN init bound {bound}"
        assert w.abs().max() < 1.5 * bound  # uniform edge plus the Gaussian tail of the latent term
    b1 = params["net.1.linear.bias"]
    assert b1.abs().max() < 1.5 * bias_bound(64)
    # the latent moves each weight by ~10% of the SIREN init spread
    assert (w1 - w1.mean(0)).std() < 0.15 * w1.std()


def test_film_starts_as_the_shared_siren():
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(hypernet="film"))
    images, observed = _batch(8, b=2)
    out = model(images, observed)
    from hypersiren.siren import grid, points_to_image

    plain = points_to_image(model.siren(grid(8, 8, align_corners=False)).unsqueeze(0), 8, 8)
    assert (out.images - plain).abs().max() < 0.05


def test_render_at_any_resolution_and_inpaint_keeps_observed(device):
    model = HyperSiren(HyperSirenConfig.tiny()).eval().to(device)
    images, observed = _batch(16, device=device)
    big = model.render(images, observed, 48, 48)
    assert big.shape == (2, 3, 48, 48) and big.abs().max() <= 1
    filled = model.inpaint(images, observed)
    assert torch.equal(filled[observed.expand_as(images)], images[observed.expand_as(images)])


@pytest.mark.parametrize("hypernet", ["film", "full", "grid"])
def test_forward_on_a_pixel_subset_matches_the_full_render(hypernet, device):
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(image_size=16, hypernet=hypernet, encoder=_encoder(hypernet))).to(device)
    images, observed = _batch(16, device=device)
    pixels = torch.tensor([0, 5, 17, 255, 100], device=device)
    full = model(images, observed).images.flatten(2)  # (B, C, 256)
    subset = model(images, observed, pixels).images
    assert subset.shape == (2, 3, 5)
    torch.testing.assert_close(subset, full[:, :, pixels])
    with pytest.raises(ValueError, match="1-D"):
        model(images, observed, pixels.view(1, -1))


def _encoder(hypernet: str) -> str:
    return "grid" if hypernet == "grid" else "conv"


@pytest.mark.parametrize("hypernet", ["film", "full", "grid"])
def test_decode_in_chunks_is_the_same_render(hypernet, device):
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(image_size=16, hypernet=hypernet, encoder=_encoder(hypernet)))
    model = model.eval().to(device)
    images, observed = _batch(16, b=5, device=device)
    generated = model.generate(model.encode(images, observed))
    whole = model.decode(generated, 12, 12)
    torch.testing.assert_close(model.decode(generated, 12, 12, chunk=2), whole)
    torch.testing.assert_close(model.decode(generated.take(1, 3), 12, 12), whole[1:3])


@pytest.mark.parametrize("size", [16, 24])
@pytest.mark.parametrize("stride", [1, 2, 4])
def test_grid_encoder_scales_with_the_image(size, stride):
    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", grid_stride=stride, image_size=size))
    images, observed = _batch(size, b=3)
    latent = model.encode(images, observed)
    assert latent.code.shape == (3, 16)
    assert latent.grid.shape == (3, 8, size // stride, size // stride)
    assert model(images, observed).images.shape == (3, 3, size, size)


@pytest.mark.parametrize("scale", [False, True])
def test_grid_render_at_2x_is_the_siren_at_those_coordinates(scale):
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", grid_scale=scale)).eval()
    images, observed = _batch(8, b=2)
    with torch.no_grad():
        gen = model.generate(model.encode(images, observed))
        rendered = model.decode(gen, 16, 16)  # twice the input side
        # by hand: read the codes at the 16 x 16 coordinates, map them, modulate every sine layer, evaluate
        from hypersiren.prior.latent import interpolate_grid
        from hypersiren.siren import grid, points_to_image

        coords = grid(16, 16, align_corners=False)  # the pixel centres of the 16 x 16 image
        codes = interpolate_grid(gen.grid, coords, align_corners=False)
        local = model.hypernet.local(codes).chunk(len(model.siren.net), dim=-1)
        h = coords
        for i, layer in enumerate(model.siren.net):
            g_scale, g_shift = gen.modulations[i].chunk(2, dim=-1)
            l_scale, l_shift = local[i].chunk(2, dim=-1) if scale else (0.0, local[i])
            z = (h @ layer.linear.weight.T + layer.linear.bias) * (1 + g_scale[:, None] + l_scale)
            h = torch.sin(layer.omega_0 * (z + g_shift[:, None] + l_shift))
        by_hand = points_to_image(h @ model.siren.last.weight.T + model.siren.last.bias, 16, 16)
    torch.testing.assert_close(rendered, by_hand, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("coordinates", ["centres", "corners"])
def test_renderings_register_at_every_size(coordinates):
    """Every rendering is the SIREN at its pixel centres in the image's [-1, 1]: a 32-pixel centre is a 96-pixel
    centre too (index 3 i + 1), so the two renderings agree there; a corners prior renders its own side on 0.1's
    linspace exactly."""
    torch.manual_seed(0)
    model = HyperSiren(
        HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=32, coordinates=coordinates)
    ).eval()
    images, observed = _batch(32, b=2)
    with torch.no_grad():
        gen = model.generate(model.encode(images, observed))
        r32, r96 = model.decode(gen, 32, 32), model.decode(gen, 96, 96)
        for size, rendered in ((32, r32), (96, r96)):
            at_centres = model.decode_points(gen, grid(size, size, align_corners=False)).unflatten(2, (size, size))
            torch.testing.assert_close(rendered, at_centres, rtol=0, atol=1e-5)
    torch.testing.assert_close(r96[..., 1::3, 1::3], r32, rtol=0, atol=1e-5)
    if coordinates == "corners":
        assert torch.equal(model.pixel_coords(32, 32), grid(32, 32)), "0.1's coordinates at the training side"
        assert model.siren_coords(torch.tensor([[-31 / 32, 31 / 32]])).tolist() == [[-1.0, 1.0]]
    else:
        assert torch.equal(model.pixel_coords(32, 32), grid(32, 32, align_corners=False))


def test_old_configs_mean_corners_and_new_ones_centres(tmp_path):
    model = HyperSiren(HyperSirenConfig.tiny())
    assert model.config.coordinates == "centres"
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["coordinates"] == "centres"
    assert HyperSiren.from_pretrained(tmp_path).config.coordinates == "centres"
    del config["coordinates"]  # a config.json written before the field existed
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert HyperSiren.from_pretrained(tmp_path).config.coordinates == "corners"
    with pytest.raises(ConfigError, match="coordinates"):
        HyperSirenConfig(coordinates="middle")


def test_inference_calls_carry_no_autograd_history():
    model = HyperSiren(HyperSirenConfig.tiny())
    images, observed = _batch(8, b=2)
    for out in (model.inpaint(images, observed), model.render(images, observed, 16)):
        assert not out.requires_grad and out.grad_fn is None
        out.numpy()  # what a user does next
    assert model(images, observed).images.requires_grad, "training keeps its graph"


def test_grid_prior_starts_near_the_shared_siren():
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid"))
    images, observed = _batch(8, b=2)
    from hypersiren.siren import grid, points_to_image

    plain = points_to_image(model.siren(grid(8, 8, align_corners=False)).unsqueeze(0), 8, 8)
    assert (model(images, observed).images - plain).abs().max() < 0.05


def test_grid_encoder_and_hypernet_go_together():
    from hypersiren.utils import ConfigError

    with pytest.raises(ConfigError, match="go together"):
        HyperSirenConfig(encoder="grid", hypernet="film")
    with pytest.raises(ConfigError, match="go together"):
        HyperSirenConfig(encoder="conv", hypernet="grid")
    with pytest.raises(ValueError, match="grid_stride"):
        HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", grid_stride=3))
    for name, bad in (("grid_stages", 0), ("grid_width_mult", 0), ("grid_mid_blocks", -1), ("grid_fill", -1)):
        with pytest.raises(ConfigError, match=f"{name} must be >= "):  # the config's own key, before any data loads
            HyperSirenConfig(encoder="grid", hypernet="grid", **{name: bad})


def test_pictures_of_another_size_are_resampled_to_the_models():
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(encoder="paper_cnn", image_size=16)).eval()  # fixed to 16x16
    with pytest.raises(ValueError, match="fixed to 16x16"):
        model.encoder(*_batch(32))  # the encoder itself cannot read 32x32
    images, observed = _batch(16)
    big, big_observed = images.repeat_interleave(2, -1).repeat_interleave(2, -2), observed.repeat_interleave(2, -1)
    big_observed = big_observed.repeat_interleave(2, -2)
    # a 2x nearest-upsampled picture reads exactly as the original: same latent, rendered at 32
    torch.testing.assert_close(model.encode(big, big_observed).code, model.encode(images, observed).code)
    assert model(big, big_observed).images.shape == (2, 3, 32, 32)
    filled = model.inpaint(big, big_observed)
    assert torch.equal(filled[big_observed.expand_as(big)], big[big_observed.expand_as(big)])


def test_resize_observed_averages_only_observed_pixels():
    from hypersiren.masks import resize_observed

    images = torch.tensor([[1.0, 3.0], [5.0, 100.0]]).view(1, 1, 2, 2)
    observed = torch.tensor([[True, True], [True, False]]).view(1, 1, 2, 2)
    small, small_observed = resize_observed(images, observed, 1)
    assert small.item() == pytest.approx(3.0) and small_observed.item()
    small, small_observed = resize_observed(images, torch.zeros_like(observed), 1)
    assert small.item() == 0.0 and not small_observed.item()


def test_encoder_dtype_runs_the_encoder_in_bf16_and_returns_float32():
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid")).eval()
    images, observed = _batch(16)
    exact = model.encode(images, observed)
    fast = model.encode(images, observed, torch.bfloat16)
    assert fast.grid.dtype == torch.float32
    assert not torch.equal(fast.grid, exact.grid)
    torch.testing.assert_close(fast.grid, exact.grid, rtol=0.05, atol=0.05)
    chunked = model(images, observed, chunk=1, encoder_dtype=torch.bfloat16).images
    torch.testing.assert_close(chunked, model(images, observed, encoder_dtype=torch.bfloat16).images)


def test_render_dtype_renders_in_bf16_and_returns_float32():
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid")).eval()
    images, observed = _batch(16)
    exact = model(images, observed).images
    fast = model(images, observed, render_dtype=torch.bfloat16).images
    assert fast.dtype == torch.float32 and fast.shape == exact.shape
    assert not torch.equal(fast, exact), "autocast did not reach the rendering"
    torch.testing.assert_close(fast, exact, rtol=0.05, atol=0.05)
    torch.testing.assert_close(model(images, observed, chunk=1, render_dtype=torch.bfloat16).images, fast)
    subset = model(images, observed, torch.tensor([3, 100, 255]), render_dtype=torch.bfloat16).images
    torch.testing.assert_close(subset, fast.flatten(-2)[..., [3, 100, 255]])


def test_bad_shapes_are_named():
    model = HyperSiren(HyperSirenConfig.tiny())
    images, observed = _batch(16)
    with pytest.raises(ValueError, match="expected images"):
        model(images[:, :1], observed)
    with pytest.raises(ValueError, match="observed must be"):
        model(images, observed[:, :, :8])


@pytest.mark.parametrize("hypernet", ["full", "grid"])
def test_save_load_round_trip_exact_and_strict(tmp_path, hypernet):
    torch.manual_seed(0)
    extra = dict(grid_scale=True, grid_mid_blocks=1, grid_attention=True) if hypernet == "grid" else {}
    model = HyperSiren(HyperSirenConfig.tiny(hypernet=hypernet, encoder=_encoder(hypernet), **extra)).eval()
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"model.safetensors", "config.json", "README.md"}
    assert json.loads((tmp_path / "config.json").read_text())["hypernet"] == hypernet
    loaded = HyperSiren.from_pretrained(tmp_path)
    assert not loaded.training
    for (n, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), n
    images, observed = _batch(16)
    assert torch.equal(model(images, observed).images, loaded(images, observed).images)


def test_load_rejects_missing_extra_and_corrupt(tmp_path):
    import safetensors.torch

    model = HyperSiren(HyperSirenConfig.tiny())
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    state = safetensors.torch.load_file(str(weights))
    # an extra key
    safetensors.torch.save_file({**state, "extra.weight": torch.zeros(1)}, str(weights))
    with pytest.raises(CheckpointError, match="unexpected keys"):
        HyperSiren.from_pretrained(tmp_path)
    # a missing key
    state.pop(next(iter(state)))
    safetensors.torch.save_file(state, str(weights))
    with pytest.raises(CheckpointError, match="missing keys"):
        HyperSiren.from_pretrained(tmp_path)
    # truncated
    model.save_pretrained(tmp_path)
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        HyperSiren.from_pretrained(tmp_path)
    # no weights at all
    weights.unlink()
    with pytest.raises(CheckpointError, match="no weights file"):
        HyperSiren.from_pretrained(tmp_path)


def test_config_json_with_unknown_key_is_rejected(tmp_path):
    from hypersiren.utils import ConfigError

    HyperSiren(HyperSirenConfig.tiny()).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "hiden_features": 3}))
    with pytest.raises(ConfigError, match="hiden_features"):
        HyperSiren.from_pretrained(tmp_path)


def test_from_pretrained_repo_id_through_monkeypatched_download(tmp_path, monkeypatch):
    import huggingface_hub.hub_mixin as hub_mixin

    import hypersiren.prior.checkpoints as checkpoints_module

    model = HyperSiren(HyperSirenConfig.tiny()).eval()
    model.save_pretrained(tmp_path / "snapshot")
    calls = []

    def fake_download(repo_id, filename, **kwargs):
        calls.append((repo_id, filename))
        return str(tmp_path / "snapshot" / filename)

    monkeypatch.setattr(hub_mixin, "hf_hub_download", fake_download)
    monkeypatch.setattr(checkpoints_module, "hf_hub_download", fake_download)
    loaded = HyperSiren.from_pretrained("someone/hypersiren-celeba32")
    assert ("someone/hypersiren-celeba32", "config.json") in calls
    assert ("someone/hypersiren-celeba32", "model.safetensors") in calls
    images, observed = _batch(16)
    assert torch.equal(model(images, observed).images, loaded(images, observed).images)


@pytest.mark.gpu
@pytest.mark.parametrize("hypernet", ["film", "full", "grid"])
def test_cuda_forward_matches_the_cpu_and_bf16_encoder_runs(hypernet):
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(image_size=16, hypernet=hypernet, encoder=_encoder(hypernet))).eval()
    images, observed = _batch(16, b=3)
    with torch.no_grad():
        cpu = model(images, observed).images
        gpu = model.to("cuda")(images.cuda(), observed.cuda()).images
        bf16 = model(images.cuda(), observed.cuda(), encoder_dtype=torch.bfloat16).images
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
    assert bf16.dtype == torch.float32 and (bf16.cpu() - cpu).abs().max() < 0.1, "bf16 encoder, fp32 SIREN"


def test_an_export_above_the_shard_size_is_sharded_in_the_hubs_layout_and_loads_strictly(tmp_path, monkeypatch):
    """Above MAX_SHARD_SIZE the weights go into model-0000k-of-0000n.safetensors + model.safetensors.index.json (the
    shipped celeba32 with its sampler: 37 MB in two shards); they load from a folder and through the Hub's download,
    a missing shard is an error naming it, and a later unsharded export removes the shards."""
    import huggingface_hub.hub_mixin as hub_mixin
    from huggingface_hub.utils import EntryNotFoundError

    import hypersiren.prior.checkpoints as checkpoints_module

    monkeypatch.setattr(checkpoints_module, "MAX_SHARD_SIZE", "20KB")
    model = HyperSiren(HyperSirenConfig.tiny()).eval()
    model.save_pretrained(tmp_path / "snapshot")
    shards = sorted(p.name for p in (tmp_path / "snapshot").glob("model-*.safetensors"))
    assert len(shards) >= 2 and not (tmp_path / "snapshot" / "model.safetensors").exists(), shards
    index = json.loads((tmp_path / "snapshot" / "model.safetensors.index.json").read_text())["weight_map"]
    assert set(index) == set(model.state_dict()) and set(index.values()) == set(shards)
    images, observed = _batch(16)
    expected = model(images, observed).images
    assert torch.equal(HyperSiren.from_pretrained(tmp_path / "snapshot")(images, observed).images, expected)

    calls = []

    def fake_download(repo_id, filename, **kwargs):  # the Hub: no model.safetensors in a sharded repo
        calls.append(filename)
        if not (tmp_path / "snapshot" / filename).is_file():
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(tmp_path / "snapshot" / filename)

    monkeypatch.setattr(hub_mixin, "hf_hub_download", fake_download)
    monkeypatch.setattr(checkpoints_module, "hf_hub_download", fake_download)
    loaded = HyperSiren.from_pretrained("someone/hypersiren-sharded")
    assert torch.equal(loaded(images, observed).images, expected)
    assert {"model.safetensors", "model.safetensors.index.json", *shards} <= set(calls)

    (tmp_path / "snapshot" / shards[-1]).unlink()
    with pytest.raises(CheckpointError, match=shards[-1]):
        HyperSiren.from_pretrained(tmp_path / "snapshot")
    monkeypatch.setattr(checkpoints_module, "MAX_SHARD_SIZE", "5GB")
    model.save_pretrained(tmp_path / "snapshot")
    assert {p.name for p in (tmp_path / "snapshot").glob("model*")} == {"model.safetensors"}
    assert torch.equal(HyperSiren.from_pretrained(tmp_path / "snapshot")(images, observed).images, expected)
