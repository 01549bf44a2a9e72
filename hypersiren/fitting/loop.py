"""Fitting one signal with one network (paper Sec. 4.1; the official ``train.py`` loop, simplified).

:func:`fit` minimises the mean squared error between the model and its supervision with Adam and no
schedule, as the official code does. The supervision is the signal itself (image, audio, video), or
only its gradient or Laplacian (Poisson reconstruction, Sec. 4.1 "Poisson equation"): then the image
is fixed only up to an offset (gradient) or an affine term, so PSNR is measured after aligning scale
and offset by least squares (:func:`align`).

A Laplacian is fitted in one of two ways. ``supervise="laplacian"`` is the paper's: the MSE between the
SIREN's Laplacian and the target at the pixels. It leaves every harmonic function free (a ramp, a saddle: on
camera 256^2 removing a plane from its error lifts 12.5 dB to 15.1), and its curvature along a mode scales as
the inverse fourth power of the mode's wavelength (the square for the energy below), so the smooth part is
barely fitted. ``supervise="ritz"`` minimises the Ritz energy of the same Poisson problem, the mean of
``1/2 |grad u|^2 + g u`` (the deep Ritz method, E and Yu 2018): its minimiser solves ``lap(u) = g`` with the
flux the target carries at its edge pixels (a Laplacian with replicated edges is the discrete Neumann problem),
only the offset is free, and it needs the gradient alone. The energy is evaluated at points drawn uniformly in
each pixel's cell (``cell``) each step: at the pixel centres alone it is unbounded below (values and gradients
at a finite set of points are independent).

Derivatives of a :class:`hypersiren.Siren` are computed by hand-fused routes (``derivatives="fused"``, the
default): the gradient by :func:`hypersiren.siren.fused_gradient.value_and_gradient`, the Laplacian by forward
mode (:func:`hypersiren.siren.derivatives.forward_derivatives`); ``"forward"`` uses forward mode for both and
``"autograd"`` the official code's double backward (:mod:`hypersiren.siren.operators`), which other models use
too. All three give the same loss and parameter gradients up to rounding.

Each step uses every point (images, audio) or a random batch of points (video: the official code draws
0.38% of the voxels). Batches come from a generator seeded from ``(seed, step)`` (:mod:`hypersiren.utils.seeds`).
PSNR at step ``k`` is that of the model after ``k`` updates; with full batches it reuses the next step's
forward.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from hypersiren.fitting.objectives import supervised_output
from hypersiren.fitting.steps import STEP_KINDS, FitHistory, Task, score, whole_set
from hypersiren.utils.schedules import lr_factor

logger = logging.getLogger(__name__)

SUPERVISIONS = ("value", "gradient", "laplacian", "ritz")
DERIVATIVES = ("fused", "forward", "autograd")


@dataclass
class FitResult:
    """The fitted model, its history, the final prediction ``(N, C)``, the median and every step time."""

    model: nn.Module
    history: FitHistory
    prediction: torch.Tensor
    seconds_per_step: float
    step_seconds: list[float] = field(default_factory=list)


def _compiled_or_eager(compiled: nn.Module, model: nn.Module, probe: torch.Tensor, bf16: bool) -> nn.Module:
    """The compiled model if a forward and backward on ``probe`` work, else the eager one."""
    try:
        out, derived = supervised_output(compiled, probe, "value", bf16)
        derived.sum().backward()
        model.zero_grad(set_to_none=True)
        return compiled
    except Exception as err:  # Inductor reports failures with many exception types
        logger.warning("torch.compile failed (%s: %s); fitting in eager mode", err.__class__.__name__, err)
        model.zero_grad(set_to_none=True)
        return model


def lr_at(step: int, steps: int, lr: float, schedule: str = "constant", lr_final: float | None = None) -> float:
    """Learning rate of update ``step`` (0-based) of ``steps``: ``lr`` times :func:`~hypersiren.utils.schedules.
    lr_factor`, ``constant`` (the official code) or decaying to ``lr_final`` (default ``lr / 100``) at the last update.
    """
    final = lr / 100 if lr_final is None else lr_final
    if schedule == "exponential" and final <= 0:
        raise ValueError(f"lr_final must be positive for the {schedule} schedule, got {final}")
    return lr * lr_factor(step, steps - 1, schedule, final=final / lr)


def fit(
    model: nn.Module,
    coords: torch.Tensor,
    target: torch.Tensor,
    *,
    steps: int,
    lr: float = 1e-4,
    lr_schedule: str = "constant",
    lr_final: float | None = None,
    supervise: str = "value",
    reference: torch.Tensor | None = None,
    batch_size: int | None = None,
    log_steps: list[int] | None = None,
    seed: int = 0,
    bf16: bool = False,
    derivatives: str = "fused",
    cell: Sequence[float] | None = None,
    compile: bool = False,
    progress: bool = True,
    desc: str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> FitResult:
    """Fit ``model`` to one signal with Adam on the MSE of its supervision.

    Args:
        model: maps ``(N, D)`` coordinates to ``(N, C)`` values.
        coords: ``(N, D)`` in [-1, 1].
        target: ``(N, C)`` values, ``(N, D)`` gradients or ``(N, 1)`` Laplacians, per ``supervise``.
        steps: optimiser steps (at least 1).
        lr: Adam learning rate (of the first update).
        lr_schedule: ``constant``, ``cosine`` or ``exponential`` (see :func:`lr_at`).
        lr_final: learning rate of the last update for the decaying schedules (default ``lr / 100``).
        supervise: ``value``, ``gradient``, ``laplacian`` (the MSE of the model's Laplacian) or ``ritz`` (the
            target is a Laplacian, fitted by the Ritz energy; see the module docstring; the logged loss is
            the energy).
        reference: ``(N, C)`` signal to report PSNR against (default ``target`` when supervising values);
            derivative supervision reports PSNR after :func:`align`.
        batch_size: points per step; None or ``>= N`` uses every point (full batch).
        log_steps: steps at which loss and PSNR are recorded (default ~20 evenly spaced, and ``steps``).
        seed: seeds the batch sampler with ``(seed, step)``.
        bf16: bfloat16 autocast (matmuls in bf16, accumulation in fp32) for value supervision and for the
            fused and forward-mode derivatives of a SIREN (the autograd route stays in float32).
        derivatives: ``fused``, ``forward`` or ``autograd``: how a SIREN's derivatives are computed for
            gradient and Laplacian supervision (see the module docstring); other models use autograd.
        cell: for ``ritz``, the sides of each point's cell (a grid's spacing per coordinate): the energy is
            evaluated at one point drawn uniformly in each cell per step.
        compile: ``torch.compile`` the model for value supervision; falls back to eager (with a warning)
            if compilation fails. The first step then includes the compile time.
        progress: show a tqdm bar.
        desc: the bar's label.
        on_step: called with the step number after each update, outside the timed region.

    Returns:
        The fitted model, history, final prediction ``(N, C)`` (float32) and median seconds per step.
    """
    _check(steps, supervise, derivatives, coords, target, cell, lr_schedule, lr, lr_final)
    if reference is None:
        if supervise != "value":
            raise ValueError("derivative supervision needs the reference signal to report PSNR")
        reference = target
    n = coords.shape[0]
    full = batch_size is None or batch_size >= n
    kind = "ritz" if supervise == "ritz" else "full" if full else "batch"
    log_set = set(log_steps) if log_steps is not None else set(range(0, steps + 1, max(1, steps // 20)))
    log_set.add(steps)
    runner = model
    if compile and supervise == "value":
        runner = torch.compile(model)
    elif compile:
        logger.warning("compile is ignored for %s supervision: double backward needs eager autograd", supervise)
    cell_sides = None if cell is None else torch.tensor(cell, dtype=coords.dtype, device=coords.device)
    task = Task(
        model=model,
        coords=coords,
        target=target,
        reference=reference,
        supervise=supervise,
        batch_size=None if full else batch_size,
        seed=seed,
        bf16=bf16,
        derivatives=derivatives,
        cell_sides=cell_sides,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, times, prediction = FitHistory(), [], None
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    for step in range(steps + 1):
        logging_now = step in log_set
        if kind == "batch" and (logging_now or step == steps):  # a step sees a batch: score every point apart
            prediction = whole_set(task, history, step)
            if step == steps:
                break
        start = time.perf_counter()
        if runner is not model and step == 0:
            runner = _compiled_or_eager(runner, model, coords[: min(n, 1024)], bf16)
        loss, out = STEP_KINDS[kind](task, runner, step, logging_now)
        if out is not None:  # ritz and full steps score what they computed
            prediction = out
            history.log(step, loss.item(), score(task, prediction))
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, lr, lr_schedule, lr_final)
        optimizer.step()
        times.append(time.perf_counter() - start)
        if on_step is not None:
            on_step(step)
        bar.update(1)
        if logging_now:
            bar.set_postfix(loss=f"{history.loss[-1]:.3g}", psnr=f"{history.psnr[-1]:.2f}")
    bar.close()
    model.eval()
    seconds = sorted(times[1:] or times)[len(times[1:] or times) // 2]  # step 0 may include compilation
    logger.info("fit: %d steps, %.3f s/step, final PSNR %.2f dB", steps, seconds, history.psnr[-1])
    return FitResult(model, history, prediction, seconds, times)


def _check(steps, supervise, derivatives, coords, target, cell, lr_schedule, lr, lr_final) -> None:
    """:func:`fit`'s arguments, each bad one a ``ValueError`` naming it, before any work."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if supervise not in SUPERVISIONS:
        raise ValueError(f"unknown supervision {supervise!r}: choose from {', '.join(SUPERVISIONS)}")
    lr_at(0, steps, lr, lr_schedule, lr_final)  # rejects an unknown schedule
    if derivatives not in DERIVATIVES:
        raise ValueError(f"unknown derivatives {derivatives!r}: choose from {', '.join(DERIVATIVES)}")
    if coords.dim() != 2 or target.dim() != 2 or coords.shape[0] != target.shape[0]:
        shapes = f"{tuple(coords.shape)} and {tuple(target.shape)}"
        raise ValueError(f"coords (N, D) and target (N, C) must have the same N, got {shapes}")
    if supervise == "ritz" and (cell is None or len(cell) != coords.shape[1] or min(cell) <= 0):
        sides = f"one positive cell side per coordinate ({coords.shape[1]})"
        raise ValueError(f"ritz supervision needs {sides}, got {cell}")
