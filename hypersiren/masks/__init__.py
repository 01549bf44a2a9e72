"""Which pixels are known: ``observed`` masks (bool, True = known) by kind, training context, resampling.

- :mod:`~hypersiren.masks.kinds`: every mask kind by name (:func:`make_observed`: centre, halves, random and
  Bernoulli context, a file, brush strokes, full).
- :mod:`~hypersiren.masks.brush`: free-form strokes (DeepFill v2 style).
- :mod:`~hypersiren.masks.context`: the context a training step shows the encoder (:func:`sample_observed`).
- :mod:`~hypersiren.masks.resample`: a partly observed image at another side, mask-aware.

May import: utils, data.
"""

from hypersiren.masks.context import sample_observed
from hypersiren.masks.kinds import KINDS, MaskError, make_observed
from hypersiren.masks.resample import resize_observed

__all__ = ["KINDS", "MaskError", "make_observed", "resize_observed", "sample_observed"]


def __getattr__(name: str) -> object:  # the names of the 0.1 module of this name, for one release
    from hypersiren._moved import old_name

    return old_name(__name__, name)
