"""Seeded random streams: one ``torch.Generator`` per tuple of integer keys, such as (seed, step).

The package convention (see :mod:`hypersiren`): randomness goes through explicit generators seeded from
(seed, step), never hidden global state; that is what makes a resumed training run identical to an
uninterrupted one. Every consumer (training batches and masks, fitting batches, evaluation masks, the
refinement's held-out pixels, the benchmarks' batches) derives its generator here, so there is one scheme:
the keys are hashed with BLAKE2b into a 63-bit seed. Unlike ``hash()`` of a tuple (an implementation
detail of CPython) or arithmetic such as ``seed * 1000 + index`` (where ``(0, 1000)`` and ``(1, 0)``
collide), the result is the same on every platform and unrelated for any two different key tuples.
"""

from __future__ import annotations

import hashlib
import struct

import torch


def seed_of(*keys: int) -> int:
    """A 63-bit seed from integer keys (negative keys allowed: e.g. -1 for validation)."""
    if not keys:
        raise ValueError("seed_of needs at least one key")
    packed = struct.pack(f"<{len(keys)}q", *(int(k) for k in keys))
    return int.from_bytes(hashlib.blake2b(packed, digest_size=8).digest(), "little") >> 1


def generator(*keys: int, device: torch.device | str | None = None) -> torch.Generator:
    """A ``torch.Generator`` (on ``device``, default the CPU) seeded from ``keys``, e.g. ``generator(seed, step)``."""
    return torch.Generator(device=device or "cpu").manual_seed(seed_of(*keys))
