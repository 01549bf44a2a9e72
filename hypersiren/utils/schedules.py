"""Learning-rate schedules, one vocabulary for fitting a signal and for training the prior.

:func:`lr_factor` is the rate of an update as a multiple of the peak: a linear warm-up, then ``constant`` (the
official code's), ``cosine`` or ``exponential`` decay to ``final`` times the peak at the last update. Fitting one
signal (:func:`hypersiren.fitting.fit`) decays to ``lr / 100`` by default; training the prior (``train/celeba.py``)
decays by cosine to zero, or to ``lr_final``.
"""

from __future__ import annotations

import math

LR_SCHEDULES = ("constant", "cosine", "exponential")


def lr_factor(step: int, steps: int, schedule: str = "constant", warmup_steps: int = 0, final: float = 0.0) -> float:
    """The rate of update ``step`` (0-based) as a multiple of the peak.

    Args:
        steps: the update at which the decay ends: ``progress = min(1, step / steps)``.
        warmup_steps: a linear warm-up over the first updates (``(step + 1) / warmup_steps``).
        final: the multiple reached at ``progress = 1`` (``exponential`` needs it > 0).

    Raises:
        ValueError: an unknown schedule, or ``exponential`` without a positive ``final``.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr schedule {schedule!r}: choose from {', '.join(LR_SCHEDULES)}")
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if schedule == "constant":
        return warm
    if final < 0 or (schedule == "exponential" and final <= 0):
        raise ValueError(
            f"the {schedule} schedule needs a final rate > {'0' if final < 0 else '0 (a multiple)'}, got {final}"
        )
    progress = min(1.0, step / max(1, steps))
    if schedule == "cosine":
        return warm * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))
    return warm * final**progress
