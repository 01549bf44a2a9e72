"""Shared test set-up: CPU by default, the device from HYPERSIREN_TEST_DEVICE (e.g. cuda on a lent GPU)."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


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
