"""The three kinds of step of :func:`hypersiren.fitting.fit`, and what they share (:class:`Task`).

- :func:`ritz_step`: the Ritz energy of a Laplacian target at one point drawn in each point's cell.
- :func:`full_step`: the MSE of the supervision (values, gradients or Laplacians) over every point.
- :func:`batch_step`: the same over ``batch_size`` random points, seeded by ``(seed, step)``; the whole set is scored
  apart (:func:`whole_set`).

Each returns the step's loss and, when it scores the model as it steps (``ritz`` and ``full`` while logging), the
prediction over every point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from hypersiren.fitting.objectives import align, mse_loss, ritz_loss, supervised_output
from hypersiren.metrics import image as metrics
from hypersiren.utils import seeds


def mse_of(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """MSE over every point and channel of one signal (:func:`hypersiren.metrics.mse`, a batch of one)."""
    return metrics.mse(prediction[None], target[None]).item()


def psnr_of(prediction: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB of one signal in [-1, 1], the prediction clipped: the PSNR on [0, 1] the paper reports."""
    return metrics.psnr(prediction.clamp(-1, 1)[None], reference[None], data_range=2.0).item()


@dataclass
class FitHistory:
    """Loss (of the supervision) and PSNR (of the signal) after ``steps[i]`` updates."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)

    def log(self, step: int, loss: float, psnr: float) -> None:
        """Record one evaluation."""
        self.steps.append(step)
        self.loss.append(loss)
        self.psnr.append(psnr)

    def at(self, step: int) -> float:
        """PSNR logged at ``step``."""
        return self.psnr[self.steps.index(step)]


@torch.no_grad()
def predict(model: nn.Module, coords: torch.Tensor, chunk: int = 262_144) -> torch.Tensor:
    """``(N, D)`` coordinates -> ``(N, C)`` outputs, in chunks to bound memory."""
    return torch.cat([model(c).float() for c in coords.split(chunk)])


class Task(NamedTuple):
    """What every step of :func:`fit` reads (its arguments, checked)."""

    model: nn.Module
    coords: torch.Tensor
    target: torch.Tensor
    reference: torch.Tensor
    supervise: str
    batch_size: int | None  # None: every point
    seed: int
    bf16: bool
    derivatives: str
    cell_sides: torch.Tensor | None


def score(task: Task, prediction: torch.Tensor) -> float:
    """PSNR of a prediction against the reference (after :func:`align` for derivative supervision)."""
    return psnr_of(prediction if task.supervise == "value" else align(prediction, task.reference), task.reference)


def batch_of(task: Task, step: int) -> tuple[torch.Generator, torch.Tensor | slice]:
    """Step ``step``'s points: a generator seeded by ``(seed, step)`` and ``batch_size`` indices (or every point)."""
    generator = seeds.generator(task.seed, step, device=task.coords.device)
    if task.batch_size is None:
        return generator, slice(None)
    n = task.coords.shape[0]
    return generator, torch.randint(0, n, (task.batch_size,), generator=generator, device=task.coords.device)


def ritz_step(task: Task, runner: nn.Module, step: int, logging_now: bool):
    """The Ritz energy at one point per cell of the step's points; the whole set predicted when logging."""
    generator, idx = batch_of(task, step)
    coords, target = task.coords[idx], task.target[idx]
    loss = ritz_loss(
        runner, coords, target, cell=task.cell_sides, generator=generator, bf16=task.bf16, derivatives=task.derivatives
    )
    return loss, predict(task.model, task.coords) if logging_now else None


def full_step(task: Task, runner: nn.Module, step: int, logging_now: bool):
    """The MSE of the supervision over every point; its own output is the prediction when logging."""
    out, derived = supervised_output(runner, task.coords, task.supervise, task.bf16, task.derivatives)
    return mse_loss(derived, task.target, task.supervise), out.detach().float() if logging_now else None


def batch_step(task: Task, runner: nn.Module, step: int, logging_now: bool):
    """The MSE of the supervision over the step's random points (the whole set is scored apart)."""
    _, idx = batch_of(task, step)
    _, derived = supervised_output(runner, task.coords[idx], task.supervise, task.bf16, task.derivatives)
    return mse_loss(derived, task.target[idx], task.supervise), None


STEP_KINDS = {"ritz": ritz_step, "full": full_step, "batch": batch_step}


def whole_set(task: Task, history: FitHistory, step: int) -> torch.Tensor:
    """Score the model on every point (a mini-batch fit logs there): its prediction, the loss and PSNR logged."""
    if task.supervise == "value":
        prediction = predict(task.model, task.coords)
        history.log(step, mse_of(prediction, task.target), score(task, prediction))
        return prediction
    out, derived = supervised_output(task.model, task.coords, task.supervise, False, task.derivatives)  # a graph
    prediction = out.detach().float()
    history.log(step, mse_of(derived.detach(), task.target), score(task, prediction))
    return prediction
