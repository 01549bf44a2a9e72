"""train/celeba.py: in-process (on the test device) and through `accelerate launch` (1 and 2 processes, marked
slow: subprocesses), exact resume, bad input."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors.torch
import torch
from helpers import ROOT, checkout_env, load_script, write_npz_split

from hypersiren import HyperSiren
from hypersiren.data import DataError, to_model_range
from hypersiren.masks import make_observed
from hypersiren.utils import ConfigError

celeba = load_script("train/celeba.py")
GRID_EMA_FLIP = ("--encoder=grid", "--hypernet=grid", "--grid_dim=8", "--ema_decay=0.9", "--hflip=true")


def _cfg(tmp_path, *extra: str, device: torch.device | None = None):
    data = write_npz_split(tmp_path / "data")
    cpu = device is None or device.type == "cpu"  # else Accelerate's device: a GPU where there is one
    return celeba.parse_args(
        [
            "--config",
            str(ROOT / "configs/tiny.yaml"),
            f"--data={data}",
            f"--output_dir={tmp_path / 'run'}",
            f"--cpu={cpu}",
            *extra,
        ]
    )


def test_tiny_training_exports_a_loadable_model(tmp_path, device):
    cfg = _cfg(tmp_path, device=device)
    metrics = celeba.main(cfg)
    run = tmp_path / "run"
    assert {"mse_ctx100", "mse_ctx1000", "mse_center"} <= set(metrics)
    assert (run / "config.yaml").is_file() and (run / "metrics.jsonl").is_file()
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    model = HyperSiren.from_pretrained(run)
    assert model.config.image_size == 16 and not model.training
    last = HyperSiren.from_pretrained(run / "checkpoint-6")  # a training checkpoint loads like an export
    for (name, a), b in zip(model.state_dict().items(), last.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    card = (run / "README.md").read_text()
    assert "pushed to the Hub" not in card and "More Information Needed" not in card, card
    for text in ("48 training images, 8 validation images", "6 steps of batch 4", "max_steps: 6", "`mse_ctx100`"):
        assert text in card, (text, card)


def test_64x64_grid_training_exports_a_strict_checkpoint(tmp_path):
    """The 64x64 path (issue 10) on tiny synthetic faces: a grid prior trains on a pixel subset, exports, loads
    strictly, and completes and renders at 64; a prior trained at 16 renders the same faces at 64 too."""
    data = write_npz_split(tmp_path / "data64", size=64, counts=(("train", 8), ("val", 4), ("test", 4)))
    cfg = celeba.parse_args(
        [
            "--config",
            str(ROOT / "configs/tiny.yaml"),
            f"--data={data}",
            "--image_size=64",
            *GRID_EMA_FLIP,
            "--render_pixels=512",
            "--max_steps=2",
            "--checkpoint_every=2",
            "--eval_every=2",
            "--context_min=40",
            "--context_max=4097",
            "--val_limit=4",
            f"--output_dir={tmp_path / 'run'}",
            "--cpu=true",
        ]
    )
    metrics = celeba.main(cfg)
    assert {"mse_ctx100", "mse_ctx1000", "mse_center", "mse_full"} <= set(metrics)
    model = HyperSiren.from_pretrained(tmp_path / "run")  # strict: every tensor present, nothing extra
    assert model.config.image_size == 64 and model.config.encoder == "grid"
    faces = to_model_range(torch.from_numpy(np.load(data / "test.npz")["images"]).permute(0, 3, 1, 2))
    for kind in ("center", "half", "random", "bernoulli", "brush", "full"):
        observed = make_observed(kind, 4, 64, 64, num_context=400, generator=torch.Generator().manual_seed(0))
        completed = model.inpaint(faces, observed)
        assert completed.shape == (4, 3, 64, 64), kind
        assert torch.equal(completed[observed.expand_as(completed)], faces[observed.expand_as(faces)]), kind
    celeba.main(_cfg(tmp_path, "--max_steps=1", f"--output_dir={tmp_path / 'run16'}"))
    small = HyperSiren.from_pretrained(tmp_path / "run16")
    assert small.config.image_size == 16
    low = torch.nn.functional.interpolate(faces, size=16, mode="bilinear", antialias=True)
    assert small.render(low, make_observed("center", 4, 16, 16), 64, 64).shape == (4, 3, 64, 64)


def test_loss_decreases(tmp_path):
    untrained = celeba.main(_cfg(tmp_path, "--max_steps=0", f"--output_dir={tmp_path / 'untrained'}"))
    trained = celeba.main(
        _cfg(
            tmp_path,
            "--max_steps=200",
            "--eval_every=1000",
            "--checkpoint_every=1000",
            "--lr=1e-3",
            "--batch_size=16",
            "--context_min=200",
            "--context_max=256",
        )
    )
    # measured over seeds 0-7: trained / untrained 0.52-0.80 (100 context), 0.55-0.81 (centre hole)
    for key in ("mse_ctx100", "mse_center"):
        assert trained[key] < 0.9 * untrained[key], f"validation {key}: {untrained[key]:.4f} -> {trained[key]:.4f}"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    mse = [r["mse"] for r in records if "mse" in r]
    assert sum(mse[-10:]) < sum(mse[:10]), "training MSE did not go down"


OFFGRID = (*GRID_EMA_FLIP, "--offgrid_points=40", "--render_pixels=64", "--cell_input=true")


@pytest.mark.parametrize("extra", [(), GRID_EMA_FLIP, OFFGRID], ids=["film", "grid-ema-hflip", "offgrid"])
def test_resume_is_exact(tmp_path, extra, device):
    full = celeba.main(_cfg(tmp_path, *extra, device=device))
    resumed_dir = tmp_path / "resumed"
    checkpoint = tmp_path / "run" / "checkpoint-3"
    resumed = celeba.main(
        _cfg(tmp_path, f"--output_dir={resumed_dir}", f"--resume_from={checkpoint}", *extra, device=device)
    )
    a = safetensors.torch.load_file(str(tmp_path / "run" / "model.safetensors"))
    b = safetensors.torch.load_file(str(resumed_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:  # bit for bit on the CPU; a GPU's atomics (convolution backward) are not deterministic
        same = torch.equal(a[k], b[k]) if device.type == "cpu" else torch.allclose(a[k], b[k], atol=1e-5)
        assert same, f"{k} differs after resume"
    full.pop("peak_rss_gb"), resumed.pop("peak_rss_gb")
    assert full == pytest.approx(resumed, rel=1e-6 if device.type == "cpu" else 1e-3)
    # the card counts the minutes of both runs: the checkpoint's, then the resumed run's own
    before = json.loads((checkpoint / "step.json").read_text())["minutes"]
    card = (resumed_dir / "README.md").read_text()
    line = next(x for x in card.splitlines() if "steps of batch" in x)
    assert before > 0 and "(resumed at step 3; the minutes of every run)" in line
    assert float(line.split(" in ")[1].split(" min")[0]) >= round(before, 1)


def test_ema_export_is_the_average_and_flips_change_training(tmp_path):
    celeba.main(_cfg(tmp_path, *GRID_EMA_FLIP))
    run = tmp_path / "run"
    exported, shadow = _weights(run), safetensors.torch.load_file(str(run / "checkpoint-6" / "ema.safetensors"))
    assert shadow.pop("__num_updates__").item() == 6
    assert exported.keys() == shadow.keys()
    for k in exported:
        assert torch.equal(exported[k], shadow[k]), f"{k}: the export is not the EMA"
    raw = safetensors.torch.load_file(str(run / "checkpoint-6" / "model.safetensors"))
    assert any(not torch.equal(raw[k], exported[k]) for k in raw), "the EMA equals the last iterate"
    celeba.main(_cfg(tmp_path, *GRID_EMA_FLIP[:-1], f"--output_dir={tmp_path / 'noflip'}"))
    assert _losses(tmp_path / "noflip") != pytest.approx(_losses(run), rel=1e-4), "hflip=true changed nothing"
    celeba.main(_cfg(tmp_path, f"--output_dir={tmp_path / 'plain'}"))  # no EMA in its checkpoints
    with pytest.raises(ConfigError, match="ema.safetensors"):
        celeba.main(
            _cfg(
                tmp_path,
                f"--output_dir={tmp_path / 'x'}",
                "--ema_decay=0.9",
                f"--resume_from={tmp_path / 'plain' / 'checkpoint-3'}",
            )
        )


def _losses(run) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def _weights(run) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(run / "model.safetensors"))


def test_training_on_a_pixel_subset(tmp_path, device):
    metrics = celeba.main(_cfg(tmp_path, "--render_pixels=64", device=device))
    assert metrics["mse_ctx100"] > 0  # validation still renders every pixel
    subset = _weights(tmp_path / "run")
    celeba.main(_cfg(tmp_path, f"--output_dir={tmp_path / 'all'}", device=device))
    celeba.main(_cfg(tmp_path, f"--output_dir={tmp_path / 'permuted'}", "--render_pixels=256", device=device))
    # every pixel in a shuffled order is the same loss (predictions and targets stay aligned), step by step
    assert _losses(tmp_path / "permuted") == pytest.approx(_losses(tmp_path / "all"), rel=1e-5)
    assert _losses(tmp_path / "run") != pytest.approx(_losses(tmp_path / "all"), rel=1e-3)
    full = _weights(tmp_path / "all")
    assert any(not torch.allclose(subset[k], full[k]) for k in full), "64 pixels trained the same model as 256"
    with pytest.raises(ConfigError, match="render_pixels"):
        celeba.main(_cfg(tmp_path, "--render_pixels=257"))  # tiny images are 16 x 16


def test_missing_weight_follows_the_rendered_pixels(tmp_path):
    # every pixel in a shuffled order: the observed mask must be gathered with the targets, or the losses differ
    celeba.main(_cfg(tmp_path, f"--output_dir={tmp_path / 'all'}", "--missing_weight=0.8"))
    celeba.main(_cfg(tmp_path, f"--output_dir={tmp_path / 'permuted'}", "--missing_weight=0.8", "--render_pixels=256"))
    assert _losses(tmp_path / "permuted") == pytest.approx(_losses(tmp_path / "all"), rel=1e-5)
    celeba.main(_cfg(tmp_path, f"--output_dir={tmp_path / 'plain'}"))
    assert _losses(tmp_path / "plain") != pytest.approx(_losses(tmp_path / "all"), rel=1e-3)
    with pytest.raises(ConfigError, match="missing_weight"):
        celeba.main(_cfg(tmp_path, "--missing_weight=2"))


def test_init_from_starts_from_a_prior_and_names_a_config_mismatch(tmp_path):
    celeba.main(_cfg(tmp_path, "--max_steps=2", "--context_dense_prob=0.5"))
    prior = HyperSiren.from_pretrained(tmp_path / "run")
    celeba.main(_cfg(tmp_path, "--max_steps=0", f"--init_from={tmp_path / 'run'}", f"--output_dir={tmp_path / 'ft'}"))
    again = HyperSiren.from_pretrained(tmp_path / "ft")  # no step taken: the prior's weights, exported
    for (name, a), b in zip(prior.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    fresh = HyperSiren(prior.config).state_dict().values()
    assert any(not torch.equal(a, c) for a, c in zip(prior.state_dict().values(), fresh, strict=True)), "trained"
    with pytest.raises(ConfigError, match=r"init_from=.*hidden_features=16 \(run: 32\)"):
        celeba.main(_cfg(tmp_path, f"--init_from={tmp_path / 'run'}", "--hidden_features=32"))
    with pytest.raises(ConfigError, match="init_from='no-such-prior'"):
        celeba.main(_cfg(tmp_path, "--init_from=no-such-prior"))
    with pytest.raises(ConfigError, match="context_dense_prob"):
        celeba.main(_cfg(tmp_path, "--context_dense_prob=2"))


def test_offgrid_training_reads_hires_faces_and_starts_from_a_prior_without_a_cell(tmp_path):
    """Off-lattice training with targets from the same faces at 32 (hires_data), its cell starting from a prior
    trained without one (the new weight zero, so the start computes what the prior computed); validation at 32."""
    data32 = write_npz_split(tmp_path / "data32", size=32)
    celeba.main(_cfg(tmp_path, *GRID_EMA_FLIP, "--max_steps=2"))
    cfg = _cfg(
        tmp_path,
        *GRID_EMA_FLIP,
        "--max_steps=2",
        "--offgrid_points=50",
        "--cell_input=true",
        f"--hires_data={data32}",
        f"--init_from={tmp_path / 'run'}",
        f"--output_dir={tmp_path / 'ft'}",
    )
    metrics = celeba.main(cfg)
    assert {"hires_full", "hires_center"} <= set(metrics) and all(math.isfinite(v) for v in metrics.values())
    tuned = HyperSiren.from_pretrained(tmp_path / "ft")
    assert tuned.config.cell_input and tuned.hypernet.cell.weight.abs().sum() > 0, "the cell trained"
    with pytest.raises(ConfigError, match="hires_data"):
        celeba.main(_cfg(tmp_path, f"--hires_data={data32}"))
    with pytest.raises(ValueError, match="not the same faces"):  # other faces in the same layout
        other = write_npz_split(tmp_path / "other", size=32, counts=(("train", 48), ("val", 8)))
        np.savez(other / "train.npz", images=np.flip(np.load(other / "train.npz")["images"], 0))
        celeba.main(
            _cfg(
                tmp_path,
                *GRID_EMA_FLIP,
                "--offgrid_points=5",
                f"--hires_data={other}",
                f"--output_dir={tmp_path / 'bad'}",
            )
        )


SAMPLER = (
    "--sampler=pixel_flow",
    "--sampler_width=8",
    "--sampler_stages=1",
    "--sampler_steps=2",
    "--train_sampler=true",
    "--context_empty_prob=0.2",
)


def test_sampler_training_keeps_the_mean_prior_and_resumes_exactly(tmp_path):
    """The sampler trains from a mean prior (init_from) with that prior frozen: the export's mean path is the
    prior's, bit for bit (inpaint bit-identical); only the sampler moved; its sampler draws; a resumed run is
    identical."""
    celeba.main(_cfg(tmp_path, *GRID_EMA_FLIP, "--max_steps=2"))
    prior = HyperSiren.from_pretrained(tmp_path / "run")
    args = (*GRID_EMA_FLIP, *SAMPLER, f"--init_from={tmp_path / 'run'}")
    full = celeba.main(_cfg(tmp_path, *args, f"--output_dir={tmp_path / 's'}"))
    assert {"mse_ctx100", "mse_center", "sample_center", "best4_center"} <= set(full)
    sampled = HyperSiren.from_pretrained(tmp_path / "s")
    for name, value in prior.state_dict().items():
        assert torch.equal(value, sampled.state_dict()[name]), f"the mean prior's {name} moved"
    fresh = HyperSiren(sampled.config).sampler.state_dict()
    assert any(not torch.equal(v, fresh[k]) for k, v in sampled.sampler.state_dict().items()), "the sampler trained"
    faces = torch.rand(2, 3, 16, 16) * 2 - 1
    center = make_observed("center", 2, 16, 16)
    assert torch.equal(sampled.inpaint(faces, center), prior.inpaint(faces, center)), "inpaint bit-identical"
    records = [json.loads(line) for line in (tmp_path / "s" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["flow"]) and "mse" not in r for r in records if "flow" in r)
    draws = sampled.sample(faces, center, 3, torch.Generator().manual_seed(0))
    assert draws.shape == (2, 3, 3, 16, 16)
    resumed = celeba.main(
        _cfg(tmp_path, *args, f"--output_dir={tmp_path / 'r'}", f"--resume_from={tmp_path / 's' / 'checkpoint-3'}")
    )
    a = safetensors.torch.load_file(str(tmp_path / "s" / "model.safetensors"))
    b = safetensors.torch.load_file(str(tmp_path / "r" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed sampler run differs"
    full.pop("peak_rss_gb"), resumed.pop("peak_rss_gb")
    assert full == pytest.approx(resumed, rel=1e-6)
    with pytest.raises(ConfigError, match="train_sampler"):
        celeba.main(_cfg(tmp_path, "--train_sampler=true"))
    # a sampler trained on from its export may draw by another SDE (sampler_churn: how draws step, no weight)
    on = (*GRID_EMA_FLIP, *SAMPLER, f"--init_from={tmp_path / 's'}", "--sampler_churn=1.0", "--max_steps=1")
    celeba.main(_cfg(tmp_path, *on, f"--output_dir={tmp_path / 'c'}"))
    assert HyperSiren.from_pretrained(tmp_path / "c").sampler.churn == 1.0


def test_resume_latest_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no complete checkpoint"):
        celeba.main(_cfg(tmp_path, "--resume_from=latest"))


def test_unknown_config_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="bach_size"):
        _cfg(tmp_path, "--bach_size=3")
    with pytest.raises(ConfigError, match="lr"):
        _cfg(tmp_path, "--lr=fast")


def test_missing_data_path_is_named(tmp_path):
    cfg = _cfg(tmp_path, f"--data={tmp_path / 'nowhere'}")
    with pytest.raises(DataError, match="nowhere"):
        celeba.main(cfg)


def _launch(tmp_path, *launch_args: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    data = write_npz_split(tmp_path / "data")
    launcher = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *launch_args,
        "--num_machines=1",
        "--mixed_precision=no",
        "--dynamo_backend=no",
    ]
    script = [
        str(ROOT / "train/celeba.py"),
        "--config",
        str(ROOT / "configs/tiny.yaml"),
        f"--data={data}",
        f"--output_dir={tmp_path / 'run'}",
        *extra,
    ]
    cmd = launcher + script
    env = checkout_env(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="")  # gloo on the CPU
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("processes", "extra"), [(1, ()), (2, ()), (2, GRID_EMA_FLIP)], ids=["1", "2", "2-grid"])
def test_accelerate_launch(tmp_path, processes, extra):
    args = ["--cpu", "--num_processes=1"] if processes == 1 else ["--multi_gpu", "--num_processes=2"]
    result = _launch(tmp_path, *args, extra=extra)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"processes: {processes} " in result.stdout, result.stdout[-2000:]
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert "exported to" in result.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_script_reports_bad_config_key_without_traceback(tmp_path):
    cmd = [sys.executable, str(ROOT / "train/celeba.py"), "--config", str(ROOT / "configs/tiny.yaml"), "--no_such=1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=checkout_env())
    assert result.returncode == 2
    assert "no_such" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_every_field_with_default_and_help(capsys):
    assert celeba.cli(["--config", "x.yaml", "--help"]) == 0
    text = capsys.readouterr().out
    for field in (
        "--batch_size=100",
        "per process",
        "--lr=5e-05",
        "--resume_from=None",
        "--image_size=32",
        "--render_pixels=None",
        "optimisation",
    ):
        assert field in text, field


def test_interrupted_names_the_checkpoint_and_the_resume_command(tmp_path):
    cfg = _cfg(tmp_path, "--max_steps=3")
    argv = ["--config", "c.yaml", "--resume_from", "x", "--lr=1e-3"]
    line = celeba.interrupted(cfg, argv, "python")
    assert "before the first checkpoint" in line and "python train/celeba.py --config c.yaml --lr=1e-3" in line
    celeba.main(cfg)
    line = celeba.interrupted(cfg, argv, "accelerate launch")
    assert f"last checkpoint {tmp_path / 'run' / 'checkpoint-3'} (step 3)" in line, line
    assert line.endswith("accelerate launch train/celeba.py --config c.yaml --lr=1e-3 --resume_from=latest"), line


@pytest.mark.slow
def test_ctrl_c_ends_with_one_line_and_no_traceback(tmp_path):
    data = write_npz_split(tmp_path / "data")
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        str(ROOT / "train/celeba.py"),
        "--config",
        str(ROOT / "configs/tiny.yaml"),
        f"--data={data}",
        f"--output_dir={run}",
        "--max_steps=100000",
        "--checkpoint_every=20",
        "--eval_every=100000",
    ]
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err_file:  # a file, not a pipe: nobody reads tqdm's output while the run trains
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=err_file, env=checkout_env(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
        )
    try:
        deadline = time.time() + 120
        while not any(run.glob("checkpoint-*[0-9]/step.json")):  # a complete checkpoint (older ones are pruned)
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    err = log.read_text()
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"interrupted: last checkpoint {run}/checkpoint-") and "--resume_from=latest" in last, last
