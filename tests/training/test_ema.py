"""EMA: the shadow is the exponential average of the weights seen, swaps in and out, round-trips its state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hypersiren.training.ema import EMA


def test_shadow_is_the_exponential_average():
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.9)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    for step in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        d = min(0.9, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            expected[k] = d * expected[k] + (1 - d) * v
        ema.update(model)
    for k, v in expected.items():
        torch.testing.assert_close(ema.shadow[k], v)


def test_applied_swaps_in_and_restores_and_copy_to_exports():
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    trained = model.weight.detach().clone()
    with ema.applied(model):
        torch.testing.assert_close(model.weight, ema.shadow["weight"])
    torch.testing.assert_close(model.weight, trained)
    ema.copy_to(model)
    torch.testing.assert_close(model.weight, ema.shadow["weight"])


def test_state_round_trip_and_mismatch():
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.99)
    ema.update(model)
    other = EMA(nn.Linear(3, 2), decay=0.99)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1
    for k in ema.shadow:
        assert torch.equal(other.shadow[k], ema.shadow[k])
    with pytest.raises(ValueError, match="does not match"):
        EMA(nn.Linear(3, 4)).load_state_dict({"weight": torch.zeros(4, 3)})
    with pytest.raises(ValueError, match="decay"):
        EMA(model, decay=1.0)
