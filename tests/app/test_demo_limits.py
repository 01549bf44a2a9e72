"""The demo page under abuse: each unreadable upload gets the page's own message through ``gradio_client`` (both
endpoints), a picture beyond the page's largest side is worked on reduced, the smallest one is refused, a hole
beyond the Poisson budget is blended linearly, and a full queue answers "busy" (pages served on loopback ports)."""

from __future__ import annotations

import io
import os
import socket
import struct
import threading
import time
import zlib
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from helpers import tiny_sampler
from PIL import Image, ImageOps

from hypersiren import HyperSiren, HyperSirenConfig
from hypersiren.app.complete_request import complete
from hypersiren.app.sample_request import sample
from hypersiren.app.uploads import Limits, pass_uploads_undecoded, read_upload
from hypersiren.inpaint.composite import BAND

SIZE = 16
# small enough for small test pictures: worked on at most 64 pixels a side, at most 2**19 pixels decoded
LIMITS = Limits(max_side=64, min_side=16, max_pixels=2**19)


@contextmanager
def _served(model, limits: Limits):
    """A client of the page for ``model`` within ``limits``, served in-process on a free loopback port."""
    pytest.importorskip("gradio")
    gradio_client = pytest.importorskip("gradio_client")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from hypersiren.app.demo import build

    page = build(model, "a tiny untrained model", limits)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        page.close()


@pytest.fixture(scope="module")
def client():
    with _served(tiny_sampler(SIZE), LIMITS) as c:
        yield c


def _gradient(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([yy * 255 // height, xx * 255 // width, 255 - yy * 255 // height], -1).astype(np.uint8)


def _encoded(array: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt)
    return out.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` RGB pixels and holds none (Pillow reads its size, then fails)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


NOISE = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
BAD_UPLOADS = [  # (file name, its bytes, what the page says)
    ("notes.png", b"a text file, named as a picture", "notes.png is not a picture this page can read"),
    ("empty.png", b"", "empty.png is an empty file"),
    ("cut.png", _encoded(NOISE, "PNG")[:3000], "cut.png is damaged or incomplete"),
    ("cut.jpg", _encoded(NOISE, "JPEG")[:1500], "cut.jpg is damaged or incomplete"),
    ("bomb.png", _png_header(100_000, 100_000), "bomb.png has more than 178,956,970 pixels"),
    ("large.png", _png_header(1000, 1000), "1000x1000 = 1,000,000 pixels: this page reads at most 524,288"),
    ("dot.png", _encoded(np.zeros((1, 1, 3), np.uint8), "PNG"), "the picture is 1x1: this page needs at least 16"),
    ("sliver.png", _encoded(_gradient(200, 12), "PNG"), "the picture is 64x4 (reduced from 200x12): this page"),
]


def _editor(background: str, layers: tuple[str, ...] = ()) -> dict:
    from gradio_client import handle_file

    return {
        "background": handle_file(background),
        "layers": [handle_file(p) for p in layers],
        "composite": None,
        "id": None,
    }


def test_the_editor_hands_uploads_on_undecoded(tmp_path):
    """Files (the API's uploads) and blobs (the browser's canvas) reach the request as files, byte for byte."""
    gr = pytest.importorskip("gradio")
    from gradio.components.image_editor import EditorData, EditorDataBlobs
    from gradio.data_classes import FileData

    editor = pass_uploads_undecoded(gr.ImageMask(type="filepath", image_mode="RGBA", format="png"))
    (tmp_path / "notes.png").write_bytes(b"not a picture")
    value = editor.preprocess(EditorData(background=FileData(path=str(tmp_path / "notes.png")), layers=[]))
    assert value["background"] == str(tmp_path / "notes.png") and value["layers"] == [] and value["composite"] is None
    editor.blob_storage["canvas"] = EditorDataBlobs(background=b"a blob", layers=[b"a layer"], composite=b"both")
    value = editor.preprocess(EditorData(id="canvas"))
    read = [open(p, "rb").read() for p in (value["background"], *value["layers"], value["composite"])]
    assert read == [b"a blob", b"a layer", b"both"], read


@pytest.mark.parametrize(("name", "data", "message"), BAD_UPLOADS, ids=[case[0] for case in BAD_UPLOADS])
def test_each_bad_upload_gets_the_pages_message_through_both_endpoints(client, tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    editor = _editor(str(tmp_path / name))
    status, *outputs = client.predict(editor, "center", 0.5, 100, "2", 0, False, api_name="/complete")
    assert status.startswith("**Cannot complete:**") and message in status and outputs == [None] * 5, status
    status, *outputs = client.predict(editor, "center", 0.5, 100, 2, 1, False, "2", False, api_name="/sample")
    assert status.startswith("**Cannot sample:**") and message in status and not any(outputs), status


def test_a_bad_painted_layer_gets_the_pages_message(client, tmp_path):
    Image.fromarray(_gradient(64, 48)).save(tmp_path / "picture.png")
    (tmp_path / "layer.png").write_bytes(b"not a layer")
    editor = _editor(str(tmp_path / "picture.png"), (str(tmp_path / "layer.png"),))
    status, *_ = client.predict(editor, "painted", 0.5, 100, "2", 0, False, api_name="/complete")
    assert status.startswith("**Cannot complete:** the painted layer layer.png is not a picture"), status


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_picture_beyond_the_largest_side_is_worked_on_reduced(client, tmp_path, fmt):
    """A 640x480 upload (and its painted layer) with a 64-pixel limit: completed, and given back, at 64x48."""
    picture = _gradient(640, 480)
    layer = np.zeros((480, 640, 4), np.uint8)
    layer[160:320, 240:400] = (255, 0, 255, 255)  # at 64x48: rows 16..32, columns 24..40
    suffix = "png" if fmt == "PNG" else "jpg"
    (tmp_path / f"big.{suffix}").write_bytes(_encoded(picture, fmt))
    Image.fromarray(layer).save(tmp_path / "layer.png")
    editor = _editor(str(tmp_path / f"big.{suffix}"), (str(tmp_path / "layer.png"),))
    status, full, *_ = client.predict(editor, "painted", 0.5, 100, "2", 0, False, api_name="/complete")
    assert "Your 640x480 picture is worked on at 64x48" in status, status
    assert status.startswith("Completed 256 missing pixels of the 64x48 picture"), status
    full = np.asarray(Image.open(full).convert("RGB")).astype(int)
    reduced = np.asarray(Image.fromarray(picture).resize((64, 48), Image.Resampling.LANCZOS)).astype(int)
    assert full.shape == (48, 64, 3), "the picture comes back at the page's largest side"
    far = np.ones((48, 64), bool)
    far[16 - BAND : 32 + BAND, 24 - BAND : 40 + BAND] = False
    off = np.abs(full[far] - reduced[far]).max()
    assert off <= (1 if fmt == "PNG" else 12), f"beyond the hole, the reduced picture itself ({off} levels off)"


def test_a_large_jpeg_is_decoded_reduced_and_turned_upright(tmp_path):
    picture = np.zeros((300, 400, 3), np.uint8)
    picture[:150, :200] = (255, 0, 0)  # red top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: the red quarter at the top right
    Image.fromarray(picture).save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    upload = read_upload(tmp_path / "turned.jpg", limits=LIMITS)
    assert upload.original_size == (300, 400) and upload.image.size == (48, 64) and upload.reduced
    expected = ImageOps.exif_transpose(Image.open(tmp_path / "turned.jpg")).resize((48, 64))
    diff = np.abs(np.asarray(upload.image, dtype=int) - np.asarray(expected, dtype=int)).mean()
    assert diff < 4, f"not the upright picture reduced ({diff:.1f} levels off on average)"
    assert np.asarray(upload.image)[4, -4, 0] > 200 and np.asarray(upload.image)[-4, 4, 0] < 50, "turned upright"


@pytest.fixture(scope="module")
def model() -> HyperSiren:
    torch.manual_seed(0)
    return HyperSiren(HyperSirenConfig.tiny(image_size=SIZE)).eval()


def test_a_hole_beyond_the_poisson_budget_is_blended_linearly(model):
    picture = _gradient(64, 64)
    seamless = complete(model, picture, hole="center", scale=2, align=False)  # a 32x32 hole: 1,024 pixels
    assert not any("blended" in n for n in seamless.notes), seamless.notes
    linear = complete(model, picture, hole="center", scale=2, align=False, limits=Limits(max_poisson_pixels=1000))
    assert any("about 1,024 of the picture's pixels, more than the 1,000" in n for n in linear.notes), linear.notes
    assert not np.array_equal(linear.picture, seamless.picture), "another blend"
    drawn = sample(
        tiny_sampler(SIZE),
        picture,
        hole="center",
        num_samples=2,
        seed=0,
        align=False,
        limits=Limits(max_poisson_pixels=2000),
    )
    assert any("more than the 1,000" in n and "per sample" in n for n in drawn.notes), "K samples share the budget"


def test_a_full_queue_answers_busy(tmp_path):
    """One request worked on, one waiting (``queue_size=1``): a third is refused with Gradio's "Queue is full"."""
    from gradio_client.utils import QueueError, Status

    gate = threading.Event()
    held = tiny_sampler(SIZE)

    def hold(*_) -> None:  # each request waits inside the model for the gate (returning None keeps its inputs)
        gate.wait(60)

    held.register_forward_pre_hook(hold)
    Image.fromarray(_gradient(32, 32)).save(tmp_path / "queued.png")
    with _served(held, Limits(queue_size=1, concurrency=1)) as c:
        args = (_editor(str(tmp_path / "queued.png")), "center", 0.5, 100, "2", 0, False)
        try:
            first = c.submit(*args, api_name="/complete")
            _wait_for(first, Status.PROCESSING)
            second = c.submit(*args, api_name="/complete")
            _wait_for(second, Status.IN_QUEUE)
            third = c.submit(*args, api_name="/complete")
            with pytest.raises(QueueError, match="Queue is full"):  # the browser shows Gradio's "Queue is full"
                third.result(timeout=60)
        finally:
            gate.set()
        served = [job.result(timeout=60)[0] for job in (first, second)]
        assert all(status.startswith("Completed") for status in served), served


def _wait_for(job, code, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while job.status().code != code:
        assert time.time() < deadline, f"the job is {job.status().code}, not {code}"
        time.sleep(0.05)


def test_the_command_line_refuses_limits_that_make_no_sense(capsys):
    from hypersiren.app.demo import main

    for argv, message in [
        (["--max_side", "8"], "--max_side must be at least 16"),
        (["--queue_size", "0"], "--queue_size must be at least 1"),
    ]:
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2 and message in capsys.readouterr().err
