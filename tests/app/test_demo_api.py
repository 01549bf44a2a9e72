"""The demo page's API through the official ``gradio_client``: the endpoint's name, its documented argument types, a
call with them, and the picture coming back at its own size (the page served in-process on a loopback port)."""

from __future__ import annotations

import os
import re
import socket

import numpy as np
import pytest
from helpers import tiny_sampler
from PIL import Image

from hypersiren.inpaint.composite import BAND

SIZE = 16


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("gradio")
    gradio_client = pytest.importorskip("gradio_client")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from hypersiren.app.demo import build

    page = build(tiny_sampler(SIZE), "a tiny untrained model")
    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        page.close()


def test_endpoint_is_named_and_documents_what_it_takes(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert list(api["named_endpoints"]) == ["/complete", "/sample"], api["named_endpoints"].keys()
    parameters = {p["parameter_name"]: p for p in api["named_endpoints"]["/complete"]["parameters"]}
    assert list(parameters) == ["value", "hole", "center_frac", "num_context", "scale", "refine_steps", "align"]
    assert parameters["scale"]["python_type"]["type"] == "Literal['2', '4', '8']"
    assert parameters["align"]["python_type"]["type"] == "bool"


def test_a_call_with_the_documented_types(client, tmp_path):
    from gradio_client import handle_file

    yy, xx = np.mgrid[0:64, 0:96]
    picture = np.stack([yy * 4, xx * 2, 255 - yy * 4], -1).astype(np.uint8)
    layer = np.zeros((64, 96, 4), np.uint8)
    layer[16:32, 40:56] = (255, 0, 255, 255)  # painted, opaque
    Image.fromarray(picture).save(tmp_path / "picture.png")
    Image.fromarray(layer).save(tmp_path / "layer.png")
    editor = {
        "background": handle_file(str(tmp_path / "picture.png")),
        "layers": [handle_file(str(tmp_path / "layer.png"))],
        "composite": None,
        "id": None,
    }
    status, full, observed, completed, rendered, files = client.predict(
        editor, "painted", 0.5, 100, "4", 0, True, api_name="/complete"
    )
    assert status.startswith("Completed 256 missing pixels of the 96x64 picture"), status
    full = np.asarray(Image.open(full).convert("RGB"))
    assert full.shape == (64, 96, 3), "the picture comes back at its own size"
    moved = (full != picture).any(-1)
    far = np.ones((64, 96), bool)
    far[16 - BAND : 32 + BAND, 40 - BAND : 56 + BAND] = False
    assert moved[16:32, 40:56].all() and not moved[far].any(), "only the hole and its band changed"
    assert Image.open(observed).size == Image.open(completed).size == (SIZE, SIZE)
    assert Image.open(rendered).size == (4 * SIZE, 4 * SIZE) and len(files) == 3
    unpainted = {**editor, "layers": []}
    status, *outputs = client.predict(unpainted, "painted", 0.5, 100, "8", 0, False, api_name="/complete")
    assert status.startswith("**Cannot complete:** nothing painted") and outputs[:4] == [None] * 4, status
    status, *_ = client.predict(unpainted, "center", 0.25, 100, "2", 0, False, api_name="/complete")
    assert status.startswith("Completed 256 missing pixels of the 96x64 picture (16 of"), status


def test_sample_through_the_client_is_seeded_and_draws_again(client, tmp_path):
    from gradio_client import handle_file

    picture = np.full((48, 64, 3), 120, np.uint8)
    Image.fromarray(picture).save(tmp_path / "flat.png")
    editor = {"background": handle_file(str(tmp_path / "flat.png")), "layers": [], "composite": None, "id": None}
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/sample"]
    assert [p["parameter_name"] for p in api["parameters"]] == [
        "value",
        "hole",
        "center_frac",
        "num_context",
        "num_samples",
        "seed",
        "larger",
        "scale",
        "align",
    ]
    status, pictures, squares, uncertainty, files = client.predict(
        editor, "center", 0.5, 100, 3, 11, False, "8", False, api_name="/sample"
    )
    assert re.search(r"\*\*seed (\d+)\*\*", status).group(1) == "11", status
    assert len(pictures) == 3 and len(squares) == 3 and len(files) == 7
    first = np.asarray(Image.open(pictures[0]["image"]))
    assert first.shape[:2] == (48, 64)
    again = client.predict(editor, "center", 0.5, 100, 3, 11, False, "8", False, api_name="/sample")[1]
    assert np.array_equal(np.asarray(Image.open(again[0]["image"])), first), "the same seed draws the same"
    status = client.predict(editor, "center", 0.5, 100, 3, None, True, "2", False, api_name="/sample")[0]
    assert re.search(r"\*\*seed (\d+)\*\*", status).group(1) != "11", "no seed: a new one"
