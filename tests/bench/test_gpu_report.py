"""bench/gpu_report.py, the collector of bench/gpu_check.sh, on fake inputs: nvidia-smi's outputs, a run folder's
metrics.jsonl and final_metrics.json, a pytest log, an evaluation's metrics.json. No GPU, no training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import load_script

report = load_script("bench/gpu_report.py")

SMI_QUERY = "0, NVIDIA H200, 580.159.04, 143771\n1, NVIDIA H200, 580.159.04, 143771\n"
SMI_HEADER = """
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 580.159.04             Driver Version: 580.159.04     CUDA Version: 13.0     |
|-----------------------------------------+------------------------+----------------------+
"""
SMI_LIST = "GPU 0: NVIDIA H200 (UUID: GPU-aaaa)\nGPU 1: NVIDIA H200 (UUID: GPU-bbbb)\n"


def test_nvidia_smi_outputs_give_the_card_driver_cuda_and_count():
    gpus = report.parse_smi_query(SMI_QUERY)
    assert gpus[0] == {"index": 0, "name": "NVIDIA H200", "driver": "580.159.04", "memory_mib": 143771.0}
    assert len(gpus) == 2
    named = report.parse_smi_query("0, NVIDIA RTX A6000, Ada, 580.1, 49140\n")[0]
    assert (named["name"], named["driver"]) == ("NVIDIA RTX A6000, Ada", "580.1"), "a comma in a card's name"
    assert report.parse_smi_cuda(SMI_HEADER) == "13.0"
    assert report.parse_smi_cuda("no header") is None
    assert report.count_smi_list(SMI_LIST) == 2
    assert report.count_smi_list("") == 0


def _train_run(tmp_path, batch=64):
    """A run folder whose first 100 steps take 10 s (warm-up) and every later 100 steps 1 s: 6,400 images/s."""
    run = tmp_path / "run"
    run.mkdir()
    seconds = [10.0, 11.0, 12.0]  # at steps 100, 200, 300; images_per_s is the mean since the start
    records = [
        {"step": 100 * (i + 1), "loss": 0.1, "images_per_s": 100 * (i + 1) * batch / t} for i, t in enumerate(seconds)
    ]
    lines = [json.dumps(r) for r in records] + [json.dumps({"step": 300, "val_mse_center": 0.02})]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    final = {"mse_ctx100": 0.0312, "mse_center": 0.0201, "peak_rss_gb": 3.25, "peak_gpu_memory_gb": 11.5}
    (run / "final_metrics.json").write_text(json.dumps(final))
    return run, records


def test_steady_images_per_s_leaves_the_warm_up_out(tmp_path):
    _, records = _train_run(tmp_path)
    rate = report.steady_images_per_s(records)
    assert rate["images_per_s"] == pytest.approx(6400.0), "the rate from the first log to the last"
    assert rate["first_logged"] == pytest.approx(640.0) and rate["steps"] == 300
    assert rate["last_logged"] < 6400 * 0.5, "the cumulative value still holds the warm-up"
    assert report.steady_images_per_s(records[:1])["images_per_s"] is None, "one log gives no steady rate"
    assert report.steady_images_per_s([])["images_per_s"] is None


def test_memory_samples_give_the_peak_per_gpu(tmp_path):
    samples = tmp_path / "mem.csv"
    samples.write_text("0, 512\n1, 500\n0, 20480\n1, 9000\n0, 18000\ngarbage\n\n")
    peaks = report.smi_memory_peaks(samples)
    assert peaks == {"peak_mib": {0: 20480.0, 1: 9000.0}, "first_mib": {0: 512.0, 1: 500.0}}
    assert report.smi_memory_peaks(tmp_path / "absent.csv") is None


def test_pytest_summary_and_failure_lines(tmp_path):
    log = "....s..\n\n=========== 85 passed, 3 skipped, 5 deselected in 140.11s (0:02:20) ===========\n"
    assert report.pytest_summary(log) == "85 passed, 3 skipped, 5 deselected in 140.11s (0:02:20)"
    assert report.pytest_summary("1 failed, 2 passed in 3.01s\n") == "1 failed, 2 passed in 3.01s"
    assert report.pytest_summary("collected nothing\n") is None
    (tmp_path / "log").write_text("Traceback\n  File x\nNameError: name 'x' is not defined\nChildFailedError: y\nend\n")
    lines = report.failure_lines({"log": str(tmp_path / "log")}, tail=1)
    assert lines == ["NameError: name 'x' is not defined", "...", "end"]


def test_report_collects_every_step_with_its_command(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "card.json").write_text(
        json.dumps(
            {
                "gpus": report.parse_smi_query(SMI_QUERY),
                "driver_cuda": "13.0",
                "torch": "2.11.0+cu130",
                "torch_cuda": "13.0",
                "cudnn": 91002,
            }
        )
    )
    run, _ = _train_run(tmp_path)
    (out / "smi.csv").write_text("0, 600\n0, 13000\n")
    (out / "tests.log").write_text("12 passed, 1 skipped in 9.87s\n")
    (out / "train.log").write_text("trained to step 300: ...\n")
    (out / "bad.log").write_text("RuntimeError: CUDA out of memory\n")
    eval_dir = out / "eval"
    eval_dir.mkdir()
    (eval_dir / "metrics.json").write_text(
        json.dumps(
            {
                "center": {"mse": 0.0031, "psnr_missing": 20.11, "ssim": 0.86, "lpips": None, "images": 1000},
                "meta": {"data": "celeba32 test.npz", "seconds": 4.2},
            }
        )
    )
    (out / "eval.log").write_text("inpainted ...\n")
    steps = [
        ("tests", 0, "tests.log", {"kind": "tests"}, ["pytest", "-m", "not slow"]),
        (
            "train-celeba32-cpu-x1",
            0,
            "train.log",
            {
                "kind": "train",
                "run_dir": str(run),
                "processes": "1",
                "mem_file": str(out / "smi.csv"),
                "data": "d",
                "data_kind": "synthetic",
            },
            ["accelerate", "launch"],
        ),
        ("eval", 0, "eval.log", {"kind": "eval", "eval_dir": str(eval_dir)}, ["python", "eval/inpaint.py"]),
        ("train-celeba32-x2", 1, "bad.log", {"kind": "train", "run_dir": str(tmp_path / "none")}, ["x"]),
    ]
    for name, rc, log, meta, command in steps:
        report.record(out, name, rc, 1.5, str(out / log), meta, command)

    built = report.build_report(out)
    numbers = {s["name"]: s["numbers"] for s in built["steps"]}
    assert numbers["tests"]["summary"] == "12 passed, 1 skipped in 9.87s"
    train = numbers["train-celeba32-cpu-x1"]
    assert train["images_per_s"] == pytest.approx(6400.0)
    assert train["peak_gpu_memory_gb"] == 11.5 and train["nvidia_smi_peak_mib"] == 13000.0
    assert train["val"] == {"mse_ctx100": 0.0312, "mse_center": 0.0201}, "peak_* are memory, not validation"
    assert numbers["eval"]["psnr_missing"] == 20.11 and numbers["eval"]["images"] == 1000
    assert built["failed"] == ["train-celeba32-x2"]
    assert built["steps"][0]["command"] == "pytest -m 'not slow'", "the command as a shell would take it"
    summary = built["summary"]
    assert "NVIDIA H200, driver 580.159.04" in summary and "6,400 img/s, 11.5 GB (synthetic data)" in summary
    assert "train-celeba32-x2 FAILED (rc 1)" in summary and "1 of 4 steps failed" in summary
    md = (out / "report.md").read_text()
    assert "2 x NVIDIA H200, 143,771 MiB, driver 580.159.04, CUDA (driver) 13.0" in md
    assert "RuntimeError: CUDA out of memory" in md and md.rstrip().endswith(summary)
    assert json.loads((out / "report.json").read_text())["summary"] == summary


def test_device_test_files_finds_the_device_fixture_and_the_gpu_mark(tmp_path):
    (tmp_path / "test_a.py").write_text("def test_x(tmp_path,\n           device):\n    pass\n")
    (tmp_path / "test_b.py").write_text("import pytest\n\n@pytest.mark.gpu\ndef test_y():\n    pass\n")
    (tmp_path / "test_c.py").write_text("def test_z(tmp_path):\n    device = 1\n")
    found = [p.rsplit("/", 1)[-1] for p in report.device_test_files(tmp_path)]
    assert found == ["test_a.py", "test_b.py"]


def test_synthetic_and_subset_data_keep_the_on_disk_layout(tmp_path):
    report.synth(tmp_path / "synth", 64, {"train": 5, "val": 2, "test": 3})
    with np.load(tmp_path / "synth" / "train.npz") as arrays:
        assert arrays["images"].shape == (5, 64, 64, 3) and arrays["images"].dtype == np.uint8
    report.subset(tmp_path / "synth", tmp_path / "small", {"train": 2, "val": 1, "test": 9})
    with np.load(tmp_path / "small" / "test.npz") as arrays:
        assert arrays["images"].shape == (3, 64, 64, 3) and arrays["ids"].tolist() == [0, 1, 2]
