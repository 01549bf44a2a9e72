"""The helper of ``bench/gpu_check.sh``: the machine's card, the steps' records and the report (issue 24).

    python bench/gpu_report.py card OUT                  # OUT/card.json: nvidia-smi, torch, CUDA, cuDNN, git
    python bench/gpu_report.py device-tests [TESTS]      # the test files that take `device` or are marked gpu
    python bench/gpu_report.py synth DIR --size 32       # DIR/{train,val,test}.npz of synthetic uint8 faces
    python bench/gpu_report.py subset SRC DST --train N  # the first N images of SRC's splits (small enough to carry)
    python bench/gpu_report.py record OUT NAME RC SECONDS LOG [--key=value ...] -- COMMAND ...
    python bench/gpu_report.py report OUT                # OUT/report.md + report.json; prints the one-line summary

Everything but ``card`` uses the standard library and numpy only, so a step's record costs no torch import.
Training throughput is the steady rate after the first log: ``metrics.jsonl``'s ``images_per_s`` is the mean since
the start, so the elapsed time at a record is ``step / images_per_s`` (times the batch, which cancels) and the rate
from the first record to the last is ``(s_last - s_first) / (s_last / ips_last - s_first / ips_first)``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

SPLITS = ("train", "val", "test")


def _run(cmd: list[str]) -> str | None:
    """A command's stdout, or None where it is missing or fails."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def parse_smi_query(text: str) -> list[dict]:
    """``nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader,nounits`` -> a dict per
    GPU (memory in MiB)."""
    gpus = []
    for line in text.strip().splitlines():
        index, rest = line.split(",", 1)
        name, driver, memory = (p.strip() for p in rest.rsplit(",", 2))  # a card's name may hold a comma
        gpus.append({"index": int(index), "name": name, "driver": driver, "memory_mib": float(memory)})
    return gpus


def parse_smi_cuda(text: str) -> str | None:
    """The driver's CUDA version from plain ``nvidia-smi``'s header (``CUDA Version: 13.0``)."""
    match = re.search(r"CUDA Version:\s*([0-9.]+)", text)
    return match.group(1) if match else None


def count_smi_list(text: str) -> int:
    """How many GPUs ``nvidia-smi -L`` lists."""
    return sum(1 for line in text.splitlines() if line.startswith("GPU "))


def collect_card(root: Path) -> dict:
    """The machine: nvidia-smi's cards, driver and CUDA; torch's CUDA and cuDNN; Python, Accelerate, git, CPUs."""
    card: dict = {
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    query = _run(["nvidia-smi", "--query-gpu=index,name,driver_version,memory.total", "--format=csv,noheader,nounits"])
    card["gpus"] = parse_smi_query(query) if query else []
    card["gpu_count"] = count_smi_list(_run(["nvidia-smi", "-L"]) or "")
    card["driver_cuda"] = parse_smi_cuda(_run(["nvidia-smi"]) or "")
    card["nvidia_smi"] = query is not None
    try:
        import torch

        card.update(
            torch=torch.__version__,
            torch_cuda=torch.version.cuda,
            cuda_available=torch.cuda.is_available(),
            cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            torch_devices=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
            capability=list(torch.cuda.get_device_capability(0)) if torch.cuda.is_available() else None,
            threads=torch.get_num_threads(),
        )
    except Exception as err:  # noqa: BLE001 - the card records what it could not read
        card["torch"] = f"unavailable ({type(err).__name__}: {err})"
    for module in ("accelerate", "numpy", "hypersiren"):
        try:
            card[module] = getattr(__import__(module), "__version__", "imported")
        except Exception as err:  # noqa: BLE001 - e.g. hypersiren/data/ missing from the copy
            card[module] = f"import failed ({type(err).__name__}: {err})"
    commit = _run(["git", "-C", str(root), "rev-parse", "HEAD"])
    dirty = _run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"])
    card["git"] = f"{commit.strip()}{' (modified)' if dirty else ''}" if commit else "unknown (no git)"
    return card


def device_test_files(tests: Path) -> list[str]:
    """Test files with a test that takes the ``device`` fixture or a ``pytest.mark.gpu`` (read with ``ast``)."""
    found = []
    for path in sorted(tests.rglob("test_*.py")):
        nodes = list(ast.walk(ast.parse(path.read_text(), str(path))))
        gpu = any(
            isinstance(n, ast.Attribute)
            and n.attr == "gpu"
            and isinstance(n.value, ast.Attribute)
            and n.value.attr == "mark"
            for n in nodes
        )
        funcs = [n for n in nodes if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]
        takes_device = any(a.arg == "device" for n in funcs for a in n.args.args + n.args.kwonlyargs)
        if gpu or takes_device:
            found.append(str(path))
    return found


def synth(folder: Path, size: int, counts: dict[str, int], seed: int = 0) -> None:
    """``{split}.npz`` with ``images`` uint8 ``(N, S, S, 3)``: smooth random colour fields (4x4 upsampled) plus
    noise, the on-disk layout of ``../shared/data/celeba32``; for throughput, not for quality."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in counts.items():
        coarse = rng.uniform(0, 255, (n, 4, 4, 3)).astype(np.float32)
        images = np.repeat(np.repeat(coarse, size // 4, axis=1), size // 4, axis=2)  # (N, S, S, 3)
        images += rng.normal(0, 12, images.shape).astype(np.float32)
        np.savez(folder / f"{split}.npz", images=images.clip(0, 255).astype(np.uint8), ids=np.arange(n, dtype=np.int32))


def subset(source: Path, dest: Path, counts: dict[str, int]) -> None:
    """The first N images (and ids) of each ``{split}.npz`` of ``source``, compressed, into ``dest``."""
    import numpy as np

    dest.mkdir(parents=True, exist_ok=True)
    for split, n in counts.items():
        with np.load(source / f"{split}.npz") as arrays:
            kept = {k: arrays[k][:n] for k in arrays.files}
        np.savez_compressed(dest / f"{split}.npz", **kept)
        print(f"{dest / (split + '.npz')}: {kept['images'].shape}, {(dest / (split + '.npz')).stat().st_size:,} bytes")


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def steady_images_per_s(records: list[dict]) -> dict:
    """From ``metrics.jsonl``'s training records: the rate from the first log to the last (warm-up left out), and
    the first and last logged (cumulative) values."""
    logs = [r for r in records if "images_per_s" in r and r["images_per_s"] > 0]
    if not logs:
        return {"images_per_s": None, "first_logged": None, "last_logged": None, "steps": None}
    first, last = logs[0], logs[-1]
    out = {"first_logged": first["images_per_s"], "last_logged": last["images_per_s"], "steps": last["step"]}
    span = last["step"] / last["images_per_s"] - first["step"] / first["images_per_s"]  # seconds / batch
    out["images_per_s"] = (last["step"] - first["step"]) / span if len(logs) > 1 and span > 0 else None
    out["steady_from_step"] = first["step"] if out["images_per_s"] is not None else None
    return out


def smi_memory_peaks(path: Path) -> dict | None:
    """``nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms N`` samples -> the first and
    the largest reading per GPU, MiB (the whole device: every process and its CUDA context)."""
    if not path.is_file():
        return None
    first: dict[int, float] = {}
    peak: dict[int, float] = {}
    for line in path.read_text().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        try:
            index, used = int(parts[0]), float(parts[1])
        except ValueError:
            continue
        first.setdefault(index, used)
        peak[index] = max(peak.get(index, 0.0), used)
    return {"peak_mib": peak, "first_mib": first} if peak else None


def pytest_summary(text: str) -> str | None:
    """The summary line of ``pytest -q`` (``12 passed, 3 skipped in 4.56s``), ``=`` padding removed."""
    lines = [line.strip(" =") for line in text.splitlines()]
    hits = [
        line
        for line in lines
        if re.search(r"\b\d+ (passed|failed|errors?|skipped|deselected)\b", line)
        and re.search(r"\bin [0-9.]+s\b", line)
    ]
    return hits[-1] if hits else None


def failure_lines(step: dict, tail: int = 12) -> list[str]:
    """A failed step's errors (``SomeError: ...`` and ``error: ...`` lines, once each), then its log's last lines."""
    lines = _read(step.get("log")).splitlines()
    errors = [x for x in lines if re.match(r"(\w+\.)*\w*(Error|Exception)\b|error: |FAILED |E  ", x)]
    errors = [x for x in dict.fromkeys(errors) if "ChildFailedError" not in x][-6:]
    return [*errors, *(["..."] if errors else []), *lines[-tail:]]


def last_line(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def record(out: Path, name: str, rc: int, seconds: float, log: str, meta: dict, command: list[str]) -> None:
    """One step's line in ``OUT/steps.jsonl``: its name, exit status, wall time, log, command and what it ran on."""
    line = {"name": name, "rc": rc, "seconds": round(seconds, 1), "log": log, "command": shlex.join(command), **meta}
    with (out / "steps.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")


def _read(path: str | Path | None) -> str:
    return Path(path).read_text(errors="replace") if path and Path(path).is_file() else ""


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def step_numbers(step: dict) -> dict:
    """What a step measured, read from its log and the files it wrote."""
    log, kind = _read(step.get("log")), step.get("kind")
    if kind == "tests":
        return {"summary": pytest_summary(log)}
    if kind == "train":
        run = Path(step["run_dir"])
        final = _json(run / "final_metrics.json")
        numbers = {
            **steady_images_per_s(read_jsonl(run / "metrics.jsonl")),
            "val": {k: v for k, v in final.items() if not k.startswith("peak_")},
            "peak_gpu_memory_gb": final.get("peak_gpu_memory_gb"),
            "peak_rss_gb": final.get("peak_rss_gb"),
            "summary": last_line(log),
        }
        smi = smi_memory_peaks(Path(step["mem_file"])) if step.get("mem_file") else None
        used = range(int(step.get("processes") or 1))  # accelerate takes GPUs 0..P-1
        if smi and any(i in smi["peak_mib"] for i in used):
            numbers["nvidia_smi_peak_mib"] = max(v for i, v in smi["peak_mib"].items() if i in used)
            numbers["nvidia_smi_first_mib"] = max(v for i, v in smi["first_mib"].items() if i in used)
        return numbers
    if kind == "eval":
        metrics = _json(Path(step["eval_dir"]) / "metrics.json")
        setting = next((v for k, v in metrics.items() if k != "meta" and isinstance(v, dict)), {})
        return {
            "summary": last_line(log),
            "data": metrics.get("meta", {}).get("data"),
            "eval_seconds": metrics.get("meta", {}).get("seconds"),
            "images": setting.get("images"),
            "mse": setting.get("mse"),
            "psnr_missing": setting.get("psnr_missing"),
            "ssim": setting.get("ssim"),
            "lpips": setting.get("lpips"),
        }
    return {"summary": last_line(log)}


def _f(value, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def _memory(n: dict) -> str:
    parts = []
    if n.get("peak_gpu_memory_gb") is not None:
        parts.append(f"{n['peak_gpu_memory_gb']:.2f} GB (torch)")
    if n.get("nvidia_smi_peak_mib") is not None:
        start = f", {n['nvidia_smi_first_mib'] / 1024:.2f} at the start" if n.get("nvidia_smi_first_mib") else ""
        parts.append(f"{n['nvidia_smi_peak_mib'] / 1024:.2f} GiB (nvidia-smi, the whole device{start})")
    if n.get("peak_rss_gb") is not None:
        parts.append(f"RSS {n['peak_rss_gb']:.2f} GB")
    return ", ".join(parts) or "-"


def card_line(card: dict) -> str:
    gpus = card.get("gpus") or []
    names = ", ".join(sorted({g["name"] for g in gpus})) or "no GPU (nvidia-smi: none)"
    memory = f", {gpus[0]['memory_mib']:,.0f} MiB" if gpus else ""
    driver = f", driver {gpus[0]['driver']}, CUDA (driver) {card.get('driver_cuda') or '?'}" if gpus else ""
    return (
        f"{len(gpus)} x {names}{memory}{driver}; torch {card.get('torch')} (CUDA {card.get('torch_cuda')}, "
        f"cuDNN {card.get('cudnn')}), accelerate {card.get('accelerate')}, Python {card.get('python')}, "
        f"{card.get('cpus')} CPUs; hypersiren {card.get('hypersiren')}; git {card.get('git')}"
    )


def summary_line(card: dict, steps: list[dict], out: Path, mode: str) -> str:
    gpus = card.get("gpus") or []
    where = f"{gpus[0]['name']}, driver {gpus[0]['driver']}" if gpus else "no GPU"
    parts = []
    for s in steps:
        n = s["numbers"]
        if s.get("rc") != 0:
            said = f": {n['summary']}" if s.get("kind") == "tests" and n.get("summary") else ""
            parts.append(f"{s['name']} FAILED (rc {s['rc']}{said})")
        elif s.get("kind") == "tests":
            parts.append(f"tests {n.get('summary')}")
        elif s.get("kind") == "train":
            if n.get("peak_gpu_memory_gb") is not None:
                memory = f"{n['peak_gpu_memory_gb']:.1f} GB"
            elif n.get("nvidia_smi_peak_mib") is not None:
                memory = f"{n['nvidia_smi_peak_mib'] / 1024:.1f} GiB (nvidia-smi)"
            else:
                memory = f"RSS {_f(n.get('peak_rss_gb'))} GB"
            synthetic = " (synthetic data)" if s.get("data_kind") == "synthetic" else ""
            parts.append(
                f"{s['name']} {_f(n.get('images_per_s') or n.get('last_logged'), 0)} img/s, {memory}{synthetic}"
            )
        elif s.get("kind") == "eval":
            parts.append(f"eval PSNR(missing) {_f(n.get('psnr_missing'), 2)} dB in {_f(s['seconds'])} s")
    failed = sum(s.get("rc") != 0 for s in steps)
    return f"gpu check ({mode}, {where}): {'; '.join(parts)}; {failed} of {len(steps)} steps failed -> {out}"


def build_report(out: Path) -> dict:
    """``OUT/report.json`` and ``OUT/report.md`` from ``card.json`` and ``steps.jsonl``; returns the report."""
    card, mode = _json(out / "card.json"), _read(out / "mode").strip() or "gpu"
    steps = [{**s, "numbers": step_numbers(s)} for s in read_jsonl(out / "steps.jsonl")]
    summary = summary_line(card, steps, out / "report.md", mode)
    report = {
        "mode": mode,
        "card": card,
        "steps": steps,
        "failed": [s["name"] for s in steps if s["rc"] != 0],
        "summary": summary,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    md = [f"# GPU check ({mode})", "", f"card: {card_line(card)}", ""]
    md += [f"run {card.get('time', '?')} on {card.get('host', '?')}; `{_read(out / 'command').strip()}`", ""]
    md += ["| step | result | seconds | numbers | command |", "|---|---|---|---|---|"]
    for s in steps:
        n, result = s["numbers"], "ok" if s["rc"] == 0 else f"FAILED (rc {s['rc']})"
        if s.get("kind") == "train":
            numbers = (
                f"{_f(n.get('images_per_s'), 0)} images/s steady from step {n.get('steady_from_step')} "
                f"(first log {_f(n.get('first_logged'), 0)}), {n.get('steps')} steps, {s.get('processes')} "
                f"process(es), data {s.get('data')} ({s.get('data_kind')}); peak memory {_memory(n)}; val "
                + ", ".join(f"{k} {v:.4f}" for k, v in n.get("val", {}).items())
            )
        elif s.get("kind") == "eval":
            numbers = (
                f"{n.get('data') or str(n.get('images')) + ' images'}: MSE {_f(n.get('mse'), 4)}, PSNR(missing) "
                f"{_f(n.get('psnr_missing'), 2)} dB, SSIM {_f(n.get('ssim'), 3)}; {_f(n.get('eval_seconds'))} s "
                f"in the script"
            )
        else:
            numbers = n.get("summary") or "-"
        note = f" ({s['note']})" if s.get("note") else ""
        row = f"| {s['name']} | {result}{note} | {s['seconds']} | {numbers} | `{s['command']}` |"
        md.append(row.replace("\n", " "))
    for s in steps:
        if s["rc"] != 0:
            md += ["", f"## {s['name']} failed (rc {s['rc']}): {s.get('log')}", "", "```", *failure_lines(s), "```"]
    md += ["", summary, ""]
    (out / "report.md").write_text("\n".join(md))
    return report


def _counts(args: argparse.Namespace) -> dict[str, int]:
    return {"train": args.train, "val": args.val, "test": args.test}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("card").add_argument("out", type=Path)
    sub.add_parser("device-tests").add_argument("tests", type=Path, nargs="?", default=Path("tests"))
    for name in ("synth", "subset"):
        p = sub.add_parser(name)
        p.add_argument("source", type=Path) if name == "subset" else None
        p.add_argument("dest", type=Path)
        p.add_argument("--size", type=int, default=32)
        for split, n in zip(SPLITS, (2048, 512, 1000), strict=True):
            p.add_argument(f"--{split}", type=int, default=n)
    p = sub.add_parser("record")
    for name, kind in [("out", Path), ("name", str), ("rc", int), ("seconds", float), ("log", str)]:
        p.add_argument(name, type=kind)
    p.add_argument("--meta", action="append", default=[], help="key=value (repeatable)")
    sub.add_parser("report").add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.what == "card":
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "card.json").write_text(json.dumps(collect_card(Path.cwd()), indent=2) + "\n")
        print(card_line(_json(args.out / "card.json")))
        build_report(args.out)
    elif args.what == "device-tests":
        print("\n".join(device_test_files(args.tests)))
    elif args.what == "synth":
        synth(args.dest, args.size, _counts(args))
    elif args.what == "subset":
        subset(args.source, args.dest, _counts(args))
    elif args.what == "record":
        record(args.out, args.name, args.rc, args.seconds, args.log, dict(m.split("=", 1) for m in args.meta), command)
    else:
        print(build_report(args.out)["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
