"""LPIPS (Zhang et al. 2018) for the inpainting metrics (SIREN Sec. 4.4): where its weights come from, offline.

The ``lpips`` package with an AlexNet backbone and its v0.1 linear heads (shipped inside ``lpips``). The
backbone weights come from, in order: an explicit ``.npz``/``.pth`` file (:func:`save_backbone` writes
one), the environment variable ``HYPERSIREN_LPIPS_WEIGHTS``, the copy shipped with the package
(:data:`BUNDLED_WEIGHTS`: torchvision's ImageNet AlexNet convolutions, BSD-3; provenance in
``hypersiren/assets/README.md``), and only where that file is missing torchvision's cache or download. So
LPIPS works on a machine without network. When none works, :func:`load_lpips` logs a warning and returns
None, and :func:`lpips_distance` gives NaN: callers report LPIPS as unavailable, never a failed run. Images
smaller than 64 pixels are upsampled (bilinear) to 64 first: at 32x32 AlexNet's last three feature maps are
1x1, so LPIPS would hardly see spatial structure; at 64 they are 3x3.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

LPIPS_WEIGHTS_ENV = "HYPERSIREN_LPIPS_WEIGHTS"
LPIPS_MIN_SIZE = 64
BUNDLED_WEIGHTS = Path(__file__).resolve().parents[1] / "assets" / "lpips_alexnet.npz"
ALEX_CONVS = [("slice1", 0), ("slice2", 3), ("slice3", 6), ("slice4", 8), ("slice5", 10)]  # lpips names


def _quiet_lpips(**kwargs) -> nn.Module:
    import lpips

    # lpips prints its set-up and torchvision warns about `pretrained=`; neither belongs in a library.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return lpips.LPIPS(net="alex", verbose=False, **kwargs)


def _load_backbone(model: nn.Module, path: Path) -> None:
    """Copy AlexNet conv weights (torchvision names ``features.{i}.weight``) from ``.npz`` or ``.pth``."""
    if path.suffix == ".npz":
        import numpy as np

        with np.load(path) as arrays:
            state = {k: torch.from_numpy(arrays[k]) for k in arrays.files}
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for slice_name, idx in ALEX_CONVS:
        conv = getattr(model.net, slice_name)._modules[str(idx)]
        for name in ("weight", "bias"):
            value = state[f"features.{idx}.{name}"]
            getattr(conv, name).data.copy_(value.reshape(getattr(conv, name).shape))


def save_backbone(model: nn.Module, path: str | Path) -> None:
    """Write an LPIPS model's AlexNet convolutions as the offline ``.npz`` that :func:`load_lpips` reads."""
    import numpy as np

    state = {}
    for slice_name, idx in ALEX_CONVS:
        conv = getattr(model.net, slice_name)._modules[str(idx)]
        for name in ("weight", "bias"):
            state[f"features.{idx}.{name}"] = getattr(conv, name).detach().cpu().numpy()
    np.savez(path, **state)


def random_lpips() -> nn.Module:
    """LPIPS with a randomly initialised AlexNet (no weights needed): for tests of the plumbing only."""
    return _quiet_lpips(pnet_rand=True).eval()


def load_lpips(weights: str | Path | None = None, allow_download: bool = True) -> nn.Module | None:
    """LPIPS (AlexNet, v0.1) in eval mode, or None (with a logged warning) when it cannot be had.

    Args:
        weights: an offline AlexNet backbone: ``.npz`` or a torchvision ``.pth`` state dict with keys
            ``features.{0,3,6,8,10}.{weight,bias}``. Default: ``$HYPERSIREN_LPIPS_WEIGHTS``, then the
            package's :data:`BUNDLED_WEIGHTS`, then (that file missing) torchvision's cache, downloading when
            ``allow_download``.
    """
    source = weights or os.environ.get(LPIPS_WEIGHTS_ENV) or (BUNDLED_WEIGHTS if BUNDLED_WEIGHTS.is_file() else None)
    try:
        if source is not None:
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"LPIPS weights file not found: {path}")
            model = _quiet_lpips(pnet_rand=True)
            _load_backbone(model, path)
        else:
            if not allow_download:
                from torch.hub import get_dir

                cached = Path(get_dir()) / "checkpoints" / "alexnet-owt-7be5be79.pth"
                if not cached.is_file():
                    raise FileNotFoundError(f"no AlexNet weights in torchvision's cache ({cached})")
            model = _quiet_lpips()
    except Exception as err:  # noqa: BLE001 - any failure means "LPIPS unavailable", never a failed run
        logger.warning(
            "LPIPS unavailable (%s: %s); pass an AlexNet weights file (.npz/.pth) or set %s. Reporting NaN.",
            type(err).__name__,
            err,
            LPIPS_WEIGHTS_ENV,
        )
        return None
    return model.eval().requires_grad_(False)


@torch.no_grad()
def lpips_distance(
    model: nn.Module | None, pred: torch.Tensor, target: torch.Tensor, min_size: int = LPIPS_MIN_SIZE
) -> torch.Tensor:
    """LPIPS per sample on [0, 1] images, upsampled (bilinear) so the shorter side is ``min_size``.

    Args:
        model: from :func:`load_lpips`; None gives NaN (LPIPS unavailable).
        pred, target: ``(B, 3, H, W)`` on [0, 1] (one channel is repeated to three).

    Returns:
        ``(B,)``, 0 for identical images; NaN without a model.
    """
    if model is None:
        return torch.full((pred.shape[0],), math.nan)
    x, y = pred.float() * 2 - 1, target.float() * 2 - 1  # lpips expects [-1, 1]
    if x.shape[1] == 1:
        x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
    short = min(x.shape[-2:])
    if short < min_size:
        size = [round(s * min_size / short) for s in x.shape[-2:]]
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
    device = next(model.parameters()).device
    return model(x.to(device), y.to(device)).flatten().float().cpu()
