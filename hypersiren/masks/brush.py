"""Free-form brush strokes as missing regions (after DeepFill v2, Yu et al. 2019, Alg. 1): ``--mask brush``.

Not in the SIREN paper; ours, for evaluating the prior on irregular holes. Reached by name through
:func:`hypersiren.masks.make_observed`.
"""

from __future__ import annotations

import math

import torch


def brush(
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator | None = None,
    max_strokes: int = 4,
    max_vertices: int = 6,
    width_range: tuple[float, float] = (0.06, 0.15),
    length_range: tuple[float, float] = (0.1, 0.35),
) -> torch.Tensor:
    """Free-form brush strokes as missing regions (after DeepFill v2, Yu et al. 2019, Alg. 1).

    Each image gets 1..``max_strokes`` strokes; a stroke is a random walk of 1..``max_vertices``
    segments whose lengths and brush width are fractions of the image side, drawn with round caps.
    Everything is drawn from ``generator`` and rasterised as a distance-to-segment test on the pixel
    grid, in chunks of images to bound memory.

    Returns:
        ``(B, 1, H, W)`` bool, False under the strokes.
    """
    side = float(min(height, width))
    ys = torch.arange(height, dtype=torch.float32).repeat_interleave(width)
    xs = torch.arange(width, dtype=torch.float32).repeat(height)
    pixels = torch.stack([ys, xs], dim=-1)  # (HW, 2)
    out = []
    for start in range(0, batch, 256):
        b = min(256, batch - start)
        n_strokes = torch.randint(1, max_strokes + 1, (b, 1), generator=generator)
        n_vertices = torch.randint(1, max_vertices + 1, (b, max_strokes, 1), generator=generator)
        origin = torch.rand(b, max_strokes, 1, 2, generator=generator) * torch.tensor([height - 1.0, width - 1.0])
        angle = torch.rand(b, max_strokes, max_vertices, generator=generator) * 2 * math.pi
        lo, hi = length_range
        length = (lo + (hi - lo) * torch.rand(b, max_strokes, max_vertices, generator=generator)) * side
        lo, hi = width_range
        radius = (lo + (hi - lo) * torch.rand(b, max_strokes, 1, generator=generator)) * side / 2
        steps = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1) * length[..., None]  # (b, S, V, 2)
        vertices = torch.cat([origin, origin + steps.cumsum(dim=2)], dim=2)  # (b, S, V + 1, 2)
        p, q = vertices[:, :, :-1], vertices[:, :, 1:]  # segment ends, (b, S, V, 2)
        valid = (torch.arange(max_strokes) < n_strokes)[:, :, None] & (torch.arange(max_vertices) < n_vertices)
        p, q = p.reshape(b, -1, 1, 2), q.reshape(b, -1, 1, 2)  # (b, S*V, 1, 2)
        d = q - p
        t = (((pixels - p) * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-9)).clamp(0, 1)  # (b, S*V, HW)
        dist = (pixels - (p + t[..., None] * d)).norm(dim=-1)  # (b, S*V, HW)
        radius = radius.expand(b, max_strokes, max_vertices).reshape(b, -1, 1)
        covered = ((dist <= radius) & valid.reshape(b, -1, 1)).any(dim=1)  # (b, HW)
        out.append(~covered.reshape(b, 1, height, width))
    return torch.cat(out) if out else torch.ones(0, 1, height, width, dtype=torch.bool)
