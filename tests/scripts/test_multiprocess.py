"""Two processes, one run folder: every checkpoint complete whatever a slow rank does, and a resume of the
two-process run that is bit-identical to the uninterrupted one (the race of issue 24: the main process renamed
``checkpoint-N.tmp`` while the other was still writing into it)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import safetensors.torch
from helpers import ROOT, checkout_env, write_npz_split

# the other process sleeps before its part of every save_state: the slowest a rank can be, made certain
SLOW_RANK = """
import runpy, sys, time
import accelerate

original = accelerate.Accelerator.save_state


def slow_save_state(self, *args, **kwargs):
    if not self.is_main_process:
        time.sleep({delay})
    return original(self, *args, **kwargs)


accelerate.Accelerator.save_state = slow_save_state
sys.argv = [{script!r}, *sys.argv[1:]]
runpy.run_path({script!r}, run_name="__main__")
"""


def launch(tmp_path, run: str, *extra: str, delay: float = 0.5) -> subprocess.CompletedProcess:
    wrapper = tmp_path / "slow_rank.py"
    wrapper.write_text(SLOW_RANK.format(delay=delay, script=str(ROOT / "train/celeba.py")))
    data = tmp_path / "data" if (tmp_path / "data").is_dir() else write_npz_split(tmp_path / "data")
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes=2",
        "--num_machines=1",
        "--mixed_precision=no",
        "--dynamo_backend=no",
        str(wrapper),
        "--config",
        str(ROOT / "configs/tiny.yaml"),
        f"--data={data}",
        f"--output_dir={tmp_path / run}",
        "--checkpoint_every=1",
        "--eval_every=100",
        "--keep_checkpoints=3",
        *extra,
    ]
    env = checkout_env(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="", GLIBC_TUNABLES="")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


@pytest.mark.slow
def test_a_slow_rank_never_breaks_a_checkpoint_and_the_resume_is_exact(tmp_path):
    full = launch(tmp_path, "full", "--max_steps=6")
    assert full.returncode == 0, full.stderr[-3000:]
    folders = sorted(p.name for p in (tmp_path / "full").iterdir() if p.name.startswith("checkpoint-"))
    assert folders == ["checkpoint-4", "checkpoint-5", "checkpoint-6"], f"stray or missing folders: {folders}"
    for name in folders:
        files = {p.name for p in (tmp_path / "full" / name).iterdir()}
        wanted = {"step.json", "config.json", "model.safetensors", "random_states_0.pkl", "random_states_1.pkl"}
        assert wanted <= files, f"{name} is incomplete: {sorted(files)}"
    # stop at step 4, then resume from it with two processes: the same weights as the uninterrupted run
    part = launch(tmp_path, "part", "--max_steps=4")
    assert part.returncode == 0, part.stderr[-3000:]
    resumed = launch(tmp_path, "part", "--max_steps=6", "--resume_from=latest")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout and "at step 4" in resumed.stdout, resumed.stdout[-2000:]
    a = safetensors.torch.load_file(str(tmp_path / "full" / "model.safetensors"))
    b = safetensors.torch.load_file(str(tmp_path / "part" / "model.safetensors"))
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a), "the resumed two-process run differs"
