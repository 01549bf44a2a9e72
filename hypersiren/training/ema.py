"""An exponential moving average of a model's weights (Polyak averaging, as in most generative-model training).

Not in the official SIREN code. The average of the last ~``1 / (1 - decay)`` steps' weights is usually a
better model than the last iterate; validation and the exported checkpoint use it. The effective decay
ramps up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so early averages are not dominated by
the random initialisation. The state is plain tensors (saved as safetensors beside a training checkpoint).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class EMA:
    """Shadow copies of a model's floating-point parameters and buffers.

    Args:
        model: the model to average (unwrapped: the names must match its ``state_dict``).
        decay: the long-run decay per update.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.dtype.is_floating_point}

    def current_decay(self) -> float:
        """The decay the next update uses."""
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """``shadow <- d * shadow + (1 - d) * weights``."""
        d = self.current_decay()
        state = model.state_dict()
        for name, value in self.shadow.items():
            value.lerp_(state[name].detach().to(value.dtype), 1.0 - d)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Write the averaged weights into ``model``."""
        state = model.state_dict()
        for name, value in self.shadow.items():
            state[name].copy_(value)

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily swap the averaged weights into ``model`` (e.g. for validation)."""
        backup = {name: value.detach().clone() for name, value in model.state_dict().items() if name in self.shadow}
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                state = model.state_dict()
                for name, value in backup.items():
                    state[name].copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only (safetensors-friendly): the shadow weights and ``__num_updates__``."""
        return {**self.shadow, "__num_updates__": torch.tensor(self.num_updates)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict`; the names must match exactly."""
        state = dict(state)
        num_updates = state.pop("__num_updates__", None)
        if num_updates is None or set(state) != set(self.shadow):
            missing, unexpected = sorted(set(self.shadow) - set(state)), sorted(set(state) - set(self.shadow))
            count = "absent" if num_updates is None else "present"
            raise ValueError(
                f"EMA state does not match the model: missing {missing[:5]}, unexpected "
                f"{unexpected[:5]}, num_updates {count}"
            )
        for name, value in state.items():
            self.shadow[name].copy_(value)
        self.num_updates = int(num_updates)
