"""Optional dependencies, by the extra that installs them (``pyproject.toml``).

``pip install hypersiren`` installs what the model, training and evaluation core need. Each script
that needs more names its extra when a package is missing:

- ``[fit]`` (``eval/fit.py``, ``bench/fit_*.py``): matplotlib, scipy (WAV files), scikit-image (the camera
  image), imageio + imageio-ffmpeg (video);
- ``[eval]`` (``eval/inpaint.py``): matplotlib (figures), scipy + scikit-image (``--method`` classical fills);
- ``[demo]`` (``python -m hypersiren.app.demo``): gradio;
- ``[align]`` (``eval/inpaint.py --image``, the demo page): OpenCV, whose wheels carry the Haar cascades that frame a
  face as CelebA's crops are (``opencv-python-headless<5``: 5.0 dropped them);
- ``[dev]``: all of them, and the test tools.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional package is not installed; the message names the extra that installs it."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` saying ``pip install "hypersiren[extra]"``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = module.split(".")[0]
        hint = f'pip install "hypersiren[{extra}]" (from a checkout: pip install -e ".[{extra}]")'
        raise MissingExtraError(f"{package} is not installed ({err}); the [{extra}] extra brings it: {hint}") from None
