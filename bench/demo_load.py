"""Benchmark: the demo page under load and abuse, through ``gradio_client`` against the served page.

    python bench/demo_load.py                                    # shipped prior, 8 clients x 4, an 8000x6000 PNG
    python bench/demo_load.py --clients 16 --requests 8 --huge 8000x6000 --huge_format jpeg --burst 40
    python bench/demo_load.py --model DIR --max_side 2048 --concurrency 4 --queue_size 32

Starts ``python -m hypersiren.app.demo`` (a process of its own, so that its memory is measured alone) on a free
loopback port and, once it serves, measures in turn:

1. load: ``--clients`` threads, one ``gradio_client.Client`` each, send ``--requests`` requests each to
   ``/complete``: the bundled 256x256 astronaut, centre hole, 4x rendering, face alignment on. Whether all were
   served, requests per second (served / wall time), p50 and p95 latency, the server's peak resident memory.
2. huge upload: one client sends a ``--huge`` picture (the astronaut enlarged; PNG by default, the costliest to
   read: no reduced JPEG decoding) with the same request while another client keeps sending the small one: the
   huge request's time and answer, the server's peak memory meanwhile, and the small requests served meanwhile
   (how many, the longest).
3. burst (``--burst N``, 0 to skip): N requests submitted at once, beyond the page's queue (``--queue_size`` waiting,
   ``--concurrency`` worked on): how many were served, and how many were answered "Queue is full".

The peak memory is the server's ``VmHWM`` (Linux), reset before each phase through ``/proc/PID/clear_refs`` where
that is allowed, else its resident memory polled every 10 ms. The figures are reported plainly (there is no
reference to compare against), with the CPU (``lscpu``'s model name) and its cores; the last line is a summary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "hypersiren" / "assets" / "examples" / "astronaut.jpg"


def cpu_line() -> str:
    """``lscpu``'s model name and the cores this process may use."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = "unknown CPU (no lscpu)"
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


class PeakMemory:
    """The peak resident memory of a process over a phase (``with`` block), in bytes."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024  # kB
        return 0

    def _poll(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._status("VmRSS"))

    def __enter__(self) -> PeakMemory:
        try:  # "5": reset the peak (VmHWM) to the present resident size
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.peak = self._status("VmRSS")
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self.reset:
            self.peak = max(self.peak, self._status("VmHWM"))


def start_page(args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen, str]:
    """The page in a process of its own, once it answers; its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    command = [sys.executable, "-m", "hypersiren.app.demo", "--port", str(port), "--model", args.model]
    for flag in ("max_side", "queue_size", "concurrency"):
        if getattr(args, flag) is not None:
            command += [f"--{flag}", str(getattr(args, flag))]
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url, deadline = f"http://127.0.0.1:{port}/", time.time() + args.start_timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"error: the page exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return proc, url
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise SystemExit(f"error: the page did not start in {args.start_timeout} s") from None
            time.sleep(0.5)


def request_args(picture: Path) -> tuple:
    """``/complete``'s arguments: ``picture``, centre hole, 4x rendering, no refinement, aligned."""
    from gradio_client import handle_file

    editor = {"background": handle_file(str(picture)), "layers": [], "composite": None, "id": None}
    return editor, "center", 0.5, 100, "4", 0, True


def timed(client, picture: Path) -> tuple[float, str]:
    """One request: its wall time and its status line (an exception's text where it raised)."""
    t = time.perf_counter()
    try:
        status = client.predict(*request_args(picture), api_name="/complete")[0]
    except Exception as err:  # noqa: BLE001 - a failed request is a result here
        status = f"{type(err).__name__}: {err}"
    return time.perf_counter() - t, status


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def load_phase(url: str, pid: int, clients: int, requests: int) -> dict:
    from gradio_client import Client

    results: list[tuple[float, str]] = []
    lock = threading.Lock()

    def run() -> None:
        client = Client(url, verbose=False)
        for _ in range(requests):
            outcome = timed(client, EXAMPLE)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    with PeakMemory(pid) as memory:
        t = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - t
    latencies = [s for s, status in results if status.startswith("Completed")]
    failures = [status for _, status in results if not status.startswith("Completed")]
    return {
        "total": clients * requests,
        "served": len(latencies),
        "wall": wall,
        "rps": len(latencies) / wall,
        "p50": percentile(latencies, 50) if latencies else float("nan"),
        "p95": percentile(latencies, 95) if latencies else float("nan"),
        "peak": memory.peak,
        "failures": failures[:3],
    }


def huge_phase(url: str, pid: int, picture: Path) -> dict:
    from gradio_client import Client

    big, small = Client(url, verbose=False), Client(url, verbose=False)
    done, others = threading.Event(), []

    def beside() -> None:
        while not done.is_set():
            others.append(timed(small, EXAMPLE))

    thread = threading.Thread(target=beside)
    with PeakMemory(pid) as memory:
        thread.start()
        seconds, status = timed(big, picture)
        done.set()
        thread.join()
    served = [s for s, status in others if status.startswith("Completed")]
    return {
        "seconds": seconds,
        "status": status,
        "peak": memory.peak,
        "others": len(served),
        "others_max": max(served, default=float("nan")),
        "others_failed": len(others) - len(served),
    }


def burst_phase(url: str, n: int) -> dict:
    from gradio_client import Client

    client = Client(url, verbose=False)
    jobs = [client.submit(*request_args(EXAMPLE), api_name="/complete") for _ in range(n)]
    served = busy = other = 0
    for job in jobs:
        try:
            served += job.result(timeout=600)[0].startswith("Completed")
        except Exception as err:  # noqa: BLE001 - "Queue is full" is the answer counted
            busy += "Queue is full" in str(err)
            other += "Queue is full" not in str(err)
    return {"submitted": n, "served": served, "busy": busy, "other": other}


def make_huge(size: tuple[int, int], fmt: str, folder: Path) -> Path:
    from PIL import Image

    path = folder / f"huge_{size[0]}x{size[1]}.{'jpg' if fmt == 'jpeg' else fmt}"
    picture = Image.open(EXAMPLE).convert("RGB").resize(size, Image.Resampling.BILINEAR)
    picture.save(path, **({"quality": 90} if fmt == "jpeg" else {}))
    return path


def main(args: argparse.Namespace) -> dict:
    gb = 2**30
    print(f"{cpu_line()}; the page: {args.model}, {time.strftime('%Y-%m-%d %H:%M')}")
    folder = Path(tempfile.mkdtemp(prefix="demo-load-"))
    try:
        huge = make_huge(args.huge, args.huge_format, folder)
        proc, url = start_page(args, folder / "server.log")
        try:
            load = load_phase(url, proc.pid, args.clients, args.requests)
            print(
                f"load: {load['served']}/{load['total']} served ({args.clients} clients x {args.requests}), "
                f"{load['rps']:.2f} requests/s, latency p50 {load['p50']:.2f} s, p95 {load['p95']:.2f} s, "
                f"server peak {load['peak'] / gb:.2f} GB"
            )
            for failure in load["failures"]:
                print(f"  not served: {failure[:200]}")
            w, h = args.huge
            big = huge_phase(url, proc.pid, huge)
            print(
                f"huge: {w}x{h} {args.huge_format} ({huge.stat().st_size / 2**20:.1f} MB) answered in "
                f"{big['seconds']:.2f} s, server peak {big['peak'] / gb:.2f} GB; meanwhile {big['others']} small "
                f"requests served (longest {big['others_max']:.2f} s), {big['others_failed']} not"
            )
            print(f"  its answer: {big['status'][:300]}")
            burst = burst_phase(url, args.burst) if args.burst > 0 else None
            if burst is not None:
                print(
                    f"burst: {burst['submitted']} at once: {burst['served']} served, {burst['busy']} answered "
                    f"'Queue is full', {burst['other']} other"
                )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"load": load, "huge": big, "burst": burst}


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return w, h


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="celeba32", help="the page's prior (default: the shipped celeba32)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--requests", type=int, default=4, help="requests per client (default 4)")
    parser.add_argument("--huge", type=_size, default=(8000, 6000), help="the huge upload, WxH (default 8000x6000)")
    parser.add_argument("--huge_format", choices=("png", "jpeg"), default="png", help="its format (default png)")
    parser.add_argument(
        "--burst",
        type=int,
        default=None,
        help="requests submitted at once (default: the page's queue + those worked on + 8, 26 by default; 0: skip)",
    )
    parser.add_argument("--max_side", type=int, default=None, help="the page's --max_side (default: its own)")
    parser.add_argument("--queue_size", type=int, default=None, help="the page's --queue_size (default: its own)")
    parser.add_argument("--concurrency", type=int, default=None, help="the page's --concurrency (default: its own)")
    parser.add_argument("--start_timeout", type=int, default=300, help="seconds for the page to start")
    args = parser.parse_args()
    if args.burst is None:
        sys.path.insert(0, str(ROOT))  # run from a checkout without installing
        from hypersiren.app.uploads import LIMITS

        args.burst = (args.queue_size or LIMITS.queue_size) + (args.concurrency or LIMITS.concurrency) + 8
    if args.clients < 1 or args.requests < 1 or args.burst < 0:
        parser.error("--clients and --requests must be >= 1, --burst >= 0")
    m = main(args)
    load, big, burst = m["load"], m["huge"], m["burst"]
    w, h = args.huge
    tail = f"; burst {burst['submitted']}: {burst['served']} served, {burst['busy']} busy" if burst else ""
    print(
        f"demo_load: {load['served']}/{load['total']} served, {load['rps']:.2f} req/s, p50 {load['p50']:.2f} s, "
        f"p95 {load['p95']:.2f} s, peak {load['peak'] / 2**30:.2f} GB; {w}x{h} {args.huge_format} in "
        f"{big['seconds']:.2f} s, peak {big['peak'] / 2**30:.2f} GB, {big['others']} others served meanwhile"
        f"{tail}"
    )
