"""The demo page in a real browser: Debian's Chromium driven by Playwright, offline, on a loopback port.

Starts ``python -m hypersiren.app.demo`` (the shipped prior; where it has no sampler, the same prior with an
untrained sampler whose noise input is random: the page's sampling mechanics are under test, not the samples'
quality, which ``eval/inpaint.py --samples`` measures), opens the page, picks an example, paints a stroke
on the canvas with the mouse, presses the button and checks in the returned picture, at its own size, that the
stroke's pixels changed and none far from it did, and on the model's square that only the hole changed. It saves a
screenshot of the page (``HYPERSIREN_DEMO_SCREENSHOT=docs/demo.png`` also copies it there). Skipped, with the
reason, where Chromium or Playwright is missing, except under ``CI=true`` (``.ci/run`` installs Chromium), where that
fails.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from helpers import checkout_env
from PIL import Image

from hypersiren.app.demo import EXAMPLES_DIR
from hypersiren.inpaint.pipeline import HOLE_COLOUR

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a page server in a subprocess, a real browser

CHROMIUM = Path(os.environ.get("HYPERSIREN_CHROMIUM", "/usr/bin/chromium"))
# Playwright's own browser download fails on these machines: Debian's Chromium, headless, nothing but loopback
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
EXAMPLE = EXAMPLES_DIR / "astronaut.jpg"
STROKE = ((0.3, 0.5), (0.7, 0.5))  # from, to: fractions of the picture's width and height


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import gradio  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        return f"{err.name} is not installed (pip install -e '.[dev]')"
    return None


def _prior_with_sampler(folder: Path) -> str:
    """The shipped ``celeba32`` if it has a sampler; else it with an untrained ``pixel_flow`` sampler added (its
    velocity's last layer drawn at random so that draws differ), saved in ``folder``."""
    import dataclasses

    import torch

    from hypersiren import HyperSiren
    from hypersiren.training.runs import init_weights

    shipped = HyperSiren.from_pretrained("celeba32")
    if shipped.sampler is not None:
        return "celeba32"
    model = HyperSiren(dataclasses.replace(shipped.config, sampler="pixel_flow"))
    init_weights(model, "celeba32")
    with torch.no_grad():
        model.sampler.net.out[-1].weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(0))
    model.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    reason = _missing()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(f"the browser test must run in CI: {reason}")
    if reason:
        pytest.skip(reason)
    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("demo") / "server.log"
    env = checkout_env(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    with open(log, "w") as out:
        model = _prior_with_sampler(tmp_path_factory.mktemp("prior"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "hypersiren.app.demo", "--port", str(port), "--model", model],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, f"the demo exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                assert time.time() < deadline, f"the demo did not start in 180 s:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


ZOOM_JS = "(document.querySelector('#editor').innerText.match(/(\\d+)%/) || [null, null])[1]"


def _zoom_text(page) -> str | None:
    return page.evaluate(f"() => {ZOOM_JS}")


def _settled_view(page) -> tuple[float, dict]:
    """The editor's zoom and canvas box once they stop changing (the picture is centred in the canvas)."""
    last, deadline = None, time.time() + 20
    while time.time() < deadline:
        view = (_zoom_text(page), page.locator("#editor canvas").first.bounding_box())
        if view == last:
            return int(view[0]) / 100, view[1]
        last = view
        time.sleep(0.5)
    raise AssertionError(f"the editor's view did not settle: {last}")


def _fetch(page, selector: str) -> np.ndarray:
    src = page.locator(selector).get_attribute("src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB")).astype(int)


def test_pick_paint_complete_in_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright

    outside = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            local = (server, "data:", "blob:")
            page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
            page.goto(server, wait_until="networkidle")
            before = _zoom_text(page)  # the empty canvas's zoom
            page.get_by_role("button", name=EXAMPLE.stem).click()
            # the editor fits the picture to its canvas: its zoom changes once the picture is drawn
            page.wait_for_function(f"() => {ZOOM_JS} !== {before!r}")
            zoom, box = _settled_view(page)
            width, height = Image.open(EXAMPLE).size
            left = box["x"] + (box["width"] - width * zoom) / 2
            top = box["y"] + (box["height"] - height * zoom) / 2
            (x0, y0), (x1, y1) = STROKE
            page.mouse.move(left + x0 * width * zoom, top + y0 * height * zoom)
            page.mouse.down()
            page.wait_for_timeout(100)
            for i in range(1, 21):  # a stroke of 20 segments, at a hand's pace so that no move is coalesced away
                f = i / 20
                at = (left + (x0 + f * (x1 - x0)) * width * zoom, top + (y0 + f * (y1 - y0)) * height * zoom)
                page.mouse.move(*at, steps=4)
                page.wait_for_timeout(25)
            page.wait_for_timeout(100)
            page.mouse.up()
            page.wait_for_timeout(300)
            page.locator("#complete").click()
            page.wait_for_selector("#completed img", timeout=120_000)
            status = page.locator("#status").inner_text()
            observed, completed = _fetch(page, "#observed img"), _fetch(page, "#completed img")
            rendered, picture = _fetch(page, "#rendered img"), _fetch(page, "#picture img")
            # the sampler: K completions of the same hole, a new seed each press
            page.locator("#sample").click()
            page.wait_for_function("() => document.querySelectorAll('#samples img').length >= 4", timeout=120_000)
            page.wait_for_function("() => document.querySelector('#status').innerText.includes('seed')")
            first = page.locator("#status").inner_text()
            drawn = [_fetch(page, f"#samples img >> nth={i}") for i in range(4)]
            uncertainty = _fetch(page, "#uncertainty img")
            page.locator("#sample").click()
            seed_one = re.search(r"seed (\d+)", first).group(1)  # the second press's status, once it has a new seed
            js = "() => { const m = document.querySelector('#status').innerText.match(/seed (\\d+)/);"
            page.wait_for_function(js + f" return m !== null && m[1] !== {seed_one!r}; }}", timeout=120_000)
            second = page.locator("#status").inner_text()
            page.wait_for_function("() => document.querySelectorAll('#samples img').length >= 4", timeout=120_000)
            redrawn = [_fetch(page, f"#samples img >> nth={i}") for i in range(4)]
            time.sleep(0.5)  # let the images settle before the screenshot
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        finally:
            browser.close()
    if target := os.environ.get("HYPERSIREN_DEMO_SCREENSHOT"):
        shutil.copy(tmp_path / "demo.png", target)

    size = observed.shape[0]
    assert observed.shape == completed.shape == (size, size, 3) and rendered.shape == (8 * size, 8 * size, 3)
    assert "PSNR over the hole" in status, status
    assert not outside, f"the page asked for something other than the local server: {outside[:5]}"
    hole = (observed == HOLE_COLOUR).all(-1)  # (S, S): where the page says the stroke made a hole
    assert hole.sum() >= 0.02 * size * size, f"the stroke made almost no hole:\n{hole.astype(int)}"
    # the model's square (the face's, framed as CelebA's): every pixel off the hole is the square's own
    assert np.array_equal(completed[~hole], observed[~hole]), "an observed pixel changed"
    assert np.abs(completed[hole] - observed[hole]).mean() > 5, "the hole was not completed"
    # the picture at its own size: the stroke's pixels changed, nothing far from the stroke did, not one level
    source = np.asarray(Image.open(EXAMPLE).convert("RGB")).astype(int)
    height, width = source.shape[:2]
    assert picture.shape == source.shape, f"the picture comes back {picture.shape}, not at its own size"
    moved = (picture != source).any(-1)
    row, cols = round(y0 * height), range(round(0.4 * width), round(0.6 * width))
    assert moved[row - 1 : row + 2, cols].all(), "the stroke's pixels are not all completed"
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    dist = np.hypot(np.maximum(0, np.maximum(x0 * width - xx, xx - x1 * width)), yy - y0 * height)
    assert not moved[dist > 0.2 * width].any(), "a pixel far from the stroke changed"
    assert (tmp_path / "demo.png").stat().st_size > 50_000
    seeds = [re.search(r"seed (\d+)", text).group(1) for text in (first, second)]
    assert seeds[0] != seeds[1], f"the same seed twice: {first} / {second}"
    assert all(d.shape == (size, size, 3) for d in drawn) and uncertainty.shape == (size, size, 3)
    assert any(not np.array_equal(drawn[0], d) for d in drawn[1:]), "four identical samples"
    assert all(not np.array_equal(a, b) for a, b in zip(drawn, redrawn, strict=True)), "a new seed, the same draws"
    # every sample keeps the observed pixels, to the level (the galleries are PNG: Gradio's default WebP is lossy)
    off = max(int(np.abs(d[~hole] - observed[~hole]).max()) for d in drawn)
    assert off == 0, f"a sample's square differs from the page's observed square by up to {off} levels"
