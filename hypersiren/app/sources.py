"""Where an evaluation's model and pictures come from (``eval/inpaint.py``, the demo page).

- :func:`load_model`: a shipped prior by name (default :data:`hypersiren.prior.pretrained.DEFAULT`), a checkpoint
  folder or a Hub id, with the name to show in titles; a Hub id is tried only when the Hub is reachable.
- :func:`load_images`: every image of a data set (:func:`hypersiren.data.celeba_dataset`) as uint8; with no
  data named and no Hub, the bundled public-domain demo images, said in a warning and in the data's name.
- :func:`model_image_size`: a model folder's side without loading its weights (for the classical fills).
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from hypersiren.data.celeba import DEFAULT_HUB_ID, all_images, celeba_dataset
from hypersiren.data.images import DataError
from hypersiren.prior import pretrained
from hypersiren.prior.checkpoints import CONFIG_NAME, CheckpointError
from hypersiren.prior.model import HyperSiren

logger = logging.getLogger(__name__)

DEMO_IMAGES = Path(__file__).resolve().parents[1] / "assets" / "demo32.npz"
DEMO_NAME = "bundled demo images (scikit-image, public domain/CC0; NOT CelebA)"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers (False at once under ``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _local(spec: str | None) -> Path | None:
    """The folder ``spec`` names when it reads as a path (or is None: the default prior), else None."""
    if spec is None:
        return pretrained.PRETRAINED_DIR / pretrained.DEFAULT
    path = Path(spec).expanduser()
    return path if path.exists() or spec.startswith((".", "/", "~")) else None


def load_model(spec: str | None = None, device: str | torch.device = "cpu") -> tuple[HyperSiren, str]:
    """A HyperSiren in eval mode on ``device``, and its name as given (``hub:`` before a Hub id).

    Args:
        spec: a shipped prior's name, a folder (a ``save_pretrained`` export or a ``checkpoint-N/``) or a Hub id
            ``owner/name``; None: the default shipped prior.

    Raises:
        CheckpointError: no such folder or prior, an unreachable Hub, or a missing / corrupt checkpoint.
    """
    path = _local(spec)
    if path is not None:
        if not path.is_dir():
            raise CheckpointError(f"model folder not found: {path}")
        return HyperSiren.from_pretrained(str(path)).to(device).eval(), spec or pretrained.DEFAULT
    if spec in pretrained.available():
        return HyperSiren.from_pretrained(spec).to(device).eval(), spec
    if "/" not in spec:
        raise CheckpointError(
            f"model {spec!r}: no such folder, and no shipped prior has that name (shipped: "
            f"{', '.join(pretrained.available())})"
        )
    if not hub_reachable():
        raise CheckpointError(f"model {spec!r}: no such folder, and the Hub (for a model id) is unreachable")
    try:
        return HyperSiren.from_pretrained(spec).to(device).eval(), f"hub:{spec}"
    except CheckpointError:
        raise
    except Exception as err:  # huggingface_hub raises many types (offline, 404, auth)
        raise CheckpointError(f"cannot load model {spec!r}: not a local folder, and from the Hub: {err}") from None


def model_image_size(spec: str | None = None) -> int:
    """The ``image_size`` in a shipped prior's or a local model folder's ``config.json``, loading no weights."""
    path = pretrained.path(spec) if spec in pretrained.available() else _local(spec) or Path(str(spec))
    config = path / CONFIG_NAME
    if not config.is_file():
        raise CheckpointError(f"no {CONFIG_NAME} in {path}: give image_size, or a local model folder that has one")
    try:
        return int(json.loads(config.read_text())["image_size"])
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"no image_size in {config} ({type(err).__name__}: {err})") from None


def demo_images(image_size: int, limit: int | None = None) -> torch.Tensor:
    """The bundled public-domain / CC0 pictures (scikit-image), ``(N, 3, S, S)`` uint8."""
    with np.load(DEMO_IMAGES) as arrays:
        images = torch.from_numpy(arrays["images"][:limit]).permute(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
    if images.shape[-1] != image_size:
        images = (
            torch.nn.functional.interpolate(
                images.float(), size=(image_size, image_size), mode="bilinear", antialias=True
            )
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
        )
    return images


def load_images(spec: str | None, split: str, image_size: int, limit: int | None = None) -> tuple[torch.Tensor, str]:
    """Every evaluation image as ``(N, 3, S, S)`` uint8, and the data's name (e.g. ``"celeba32 test.npz"``).

    Args:
        spec: an ``.npz``, a folder or a Hub id (see :func:`hypersiren.data.celeba_dataset`); None: the CelebA
            split on the Hub, or the bundled demo images when the Hub cannot be had (logged).

    Raises:
        DataError: a named source that cannot be read.
    """
    source = spec or DEFAULT_HUB_ID
    dataset, reason = None, "the Hub is unreachable"
    if spec is not None or hub_reachable():
        try:
            dataset = celeba_dataset(source, split=split, image_size=image_size, limit=limit)
        except DataError as err:
            if spec is not None:
                raise
            reason = str(err)
    if dataset is None:
        logger.warning("no data (%s): using the bundled demo images %s", reason, DEMO_IMAGES)
        return demo_images(image_size, limit), DEMO_NAME
    path = Path(source).expanduser()
    if path.is_file():
        name = f"{path.parent.name} {path.name}"
    else:
        name = f"{path.name} {split} split" if path.is_dir() else f"hub:{source} {split} split"
    return all_images(dataset), name
