"""Fitting one signal with one network (SIREN Sec. 4.1): the loop, what it minimises, and the signals.

- :mod:`~hypersiren.fitting.loop`: :func:`fit`: Adam on the signal, its gradient or its Laplacian;
  :mod:`~hypersiren.fitting.steps`: its three kinds of step (Ritz, every point, a random batch).
- :mod:`~hypersiren.fitting.objectives`: the supervisions, the Ritz energy, the alignment of a Poisson fit.
- :mod:`~hypersiren.fitting.signals`: images, audio and video read into point sets, and written back.

May import: utils, siren, metrics.
"""

from hypersiren.fitting.loop import FitResult, fit
from hypersiren.fitting.objectives import align
from hypersiren.fitting.signals import Signal, SignalError, load_signal, save_signal

__all__ = ["FitResult", "Signal", "SignalError", "align", "fit", "load_signal", "save_signal"]


def __getattr__(name: str) -> object:  # the names of the 0.1 module of this name, for one release
    from hypersiren._moved import old_name

    return old_name(__name__, name)
