"""Shared test set-up: CPU by default, the device from HYPERSIREN_TEST_DEVICE (e.g. cuda on a lent GPU).

The model, SIREN, encoder, loss and training tests take the ``device`` fixture, so
``HYPERSIREN_TEST_DEVICE=cuda pytest`` runs them on a GPU. Marks: ``slow`` (subprocesses: the scripts' command
lines, ``accelerate launch`` with 1 and 2 processes, Ctrl-C, the browser; left out by plain ``pytest``, run by
``pytest -m "slow or not slow"`` as ``.ci/run`` does), ``gpu`` (CUDA only; skipped without it), ``browser``.
"""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True, scope="session")
def _decode_cache(tmp_path_factory) -> None:
    """Decoded-face caches (hypersiren.data.cache) go to a folder of the test session, never the user's."""
    os.environ["HYPERSIREN_CACHE"] = str(tmp_path_factory.mktemp("decode_cache"))


@pytest.fixture
def device() -> torch.device:
    """The test device: ``HYPERSIREN_TEST_DEVICE`` (default cpu)."""
    return torch.device(os.environ.get("HYPERSIREN_TEST_DEVICE", "cpu"))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
