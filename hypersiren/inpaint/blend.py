"""How a completion meets the picture around its hole: a linear fade, or gradient-domain (Poisson) blending.

- ``linear`` (:func:`blend_weights`, :func:`paste`): the completion fades into the picture across ``band`` pixels.
- ``poisson`` (:func:`poisson_blend`; Perez, Gangnet and Blake, "Poisson image editing", SIGGRAPH 2003): the values
  whose 4-neighbour differences best match a guide (the completion's own in the hole, the picture's own in the band),
  the picture's values just beyond: a completion of another brightness or tint than the picture leaves no edge.

The Poisson equations are solved by conjugate gradients preconditioned with one multigrid V-cycle (cell-centred,
2x2 blocks, weighted Jacobi smoothing, the coarse equations rediscretised on the blocks' masks): about a dozen
iterations whatever the hole's size, where plain conjugate gradients need about the region's width in iterations.
``bench/probes/seamless_composite.py`` measures the two blends against each other.
"""

from __future__ import annotations

import math

import numpy as np
import torch

POISSON_TOLERANCE = 1e-3  # the solve stops when no residual exceeds this, in grey levels (of 255)
STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # the 4-neighbours, (dy, dx)


def blend_weights(hole: torch.Tensor, band: int) -> torch.Tensor:
    """How much of the completion each pixel takes: 1 in the hole, fading across ``band`` pixels outside it.

    Args:
        hole: ``(H, W)`` bool, True = completed.
        band: the width of the fade, in pixels: a pixel at Euclidean distance ``d`` from the hole takes
            ``1 - d / (band + 1)`` of the completion where ``d <= band``, and nothing beyond.

    Returns:
        ``(H, W)`` float32 in [0, 1]; exactly 0 beyond the band.
    """
    weights = hole.to(torch.float32)
    if band <= 0 or not bool(hole.any()):
        return weights
    padded = torch.nn.functional.pad(weights, (band, band, band, band))  # (H + 2 band, W + 2 band)
    h, w = hole.shape
    for dy in range(-band, band + 1):
        for dx in range(-band, band + 1):
            d = math.hypot(dy, dx)
            if 0 < d <= band:  # the dilation by a cone: the max over the hole's pixels of 1 - d / (band + 1)
                shifted = padded[band + dy : band + dy + h, band + dx : band + dx + w]
                weights = torch.maximum(weights, shifted * (1 - d / (band + 1)))
    return weights


def paste(picture: np.ndarray, values: torch.Tensor, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray):
    """The picture with the completion blended in at some pixels; every other pixel untouched.

    Args:
        picture: ``(H, W, C)`` uint8, the picture as it came in.
        values: ``(C, N)`` the completion at the pixels ``(rows, cols)``, on [-1, 1] (clamped here).
        rows, cols: ``(N,)`` the pixels.
        weights: ``(N,)`` the completion's share at each (:func:`blend_weights`).

    Returns:
        ``(H, W, C)`` uint8.
    """
    out = picture.copy()
    completion = (values.detach().cpu().to(torch.float64).clamp(-1, 1).numpy().T + 1) * 127.5  # (N, C) on [0, 255]
    w = weights[:, None]
    mixed = w * completion + (1 - w) * picture[rows, cols].astype(np.float64)
    out[rows, cols] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    return out


def neighbour(a: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
    """``a[..., i + dy, j + dx]`` at every ``(i, j)`` of ``(..., h, w)`` ``a``; ``fill`` beyond its edge."""
    out = np.full_like(a, fill)
    h, w = a.shape[-2:]
    out[..., max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = a[
        ..., max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)
    ]
    return out


def poisson_blend(
    picture: np.ndarray, fill: np.ndarray, solve: np.ndarray, known: np.ndarray, tolerance: float = POISSON_TOLERANCE
) -> np.ndarray:
    """Gradient-domain blending: the values on ``solve`` whose 4-neighbour differences best match a guide, the
    picture's own values just beyond it (Perez et al. 2003, Eq. 7).

    The guide between two neighbours is the picture's own difference where both are ``known``, else the fill's.
    A neighbour beyond the array, or unknown and not solved for (a hole's pixel the fill does not reach), adds no
    equation (a free edge). Solved in float64 to ``tolerance`` grey levels of residual (module docstring).

    Args:
        picture: ``(h, w, C)`` on [0, 255]: the values beyond ``solve`` are the boundary.
        fill: ``(h, w, C)`` on [0, 255], the completion; NaN where it is not rendered (it must be on ``solve``).
        solve: ``(h, w)`` bool, the pixels to blend.
        known: ``(h, w)`` bool, the picture's own pixels (not in the hole).

    Returns:
        ``(h, w, C)`` float64: ``picture`` beyond ``solve``, the blend on it (not rounded, not clipped).
    """
    p = np.moveaxis(np.asarray(picture, np.float64), -1, 0)  # (C, h, w)
    f = np.moveaxis(np.asarray(fill, np.float64), -1, 0)  # (C, h, w)
    rendered = np.isfinite(f).all(0)
    if not rendered[solve].all():
        raise ValueError("poisson_blend: the fill must be given on every pixel to solve")
    rhs = np.zeros_like(p)
    for dy, dx in STEPS:
        q_solve, q_known = neighbour(solve, dy, dx, False), neighbour(known, dy, dx, False)
        q_p, q_f = neighbour(p, dy, dx, 0.0), neighbour(f, dy, dx, np.nan)
        active = solve & (q_solve | q_known)
        guide = np.where(known & q_known, p - q_p, np.where(rendered & np.isfinite(q_f).all(0), f - q_f, 0.0))
        rhs += np.where(active, guide, 0.0) + np.where(active & ~q_solve, q_p, 0.0)  # beyond ``solve``: fixed
    operator = _Operator(solve, solve | known)
    start = np.where(solve, np.where(known, p, np.nan_to_num(f)), 0.0)  # the picture where known, the fill in the hole
    x = _conjugate_gradients(operator, np.where(solve, rhs, 0.0), start, tolerance)
    return np.moveaxis(np.where(solve, x, p), 0, -1)


class _Operator:
    """The Poisson equations' matrix on the ``solve`` pixels of a box: each row the number of its neighbours that
    are solved or fixed (``anchored``), minus each solved neighbour; with its coarser levels for the V-cycle.

    Args:
        solve: ``(h, w)`` bool, the unknowns.
        anchored: ``(h, w)`` bool, the pixels that give an equation (unknowns and fixed values).
        weight: the equations' scale (2 per coarser level: a block's edge holds two of its pixels' edges).
    """

    def __init__(self, solve: np.ndarray, anchored: np.ndarray, weight: float = 1.0) -> None:
        self.solve, self.weight = solve, weight
        self.links = [solve & neighbour(solve, dy, dx, False) for dy, dx in STEPS]  # both ends unknown
        degree = sum((solve & neighbour(anchored, dy, dx, False)).astype(np.float64) for dy, dx in STEPS)
        self.diagonal = weight * degree
        self.inverse = np.where(self.diagonal > 0, 1 / np.maximum(self.diagonal, 1e-300), 0.0)
        h, w = solve.shape
        self.coarse = None
        if min(h, w) >= 4 and solve.sum() > 64:
            self.coarse = _Operator(_blocks(solve).any(-1), _blocks(anchored).any(-1), 2 * weight)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(C, h, w)``, zero beyond ``solve`` -> the same."""
        out = self.diagonal * x
        for (dy, dx), link in zip(STEPS, self.links, strict=True):
            out -= self.weight * np.where(link, neighbour(x, dy, dx, 0.0), 0.0)
        return out

    def v_cycle(self, r: np.ndarray, sweeps: int = 2, omega: float = 0.8) -> np.ndarray:
        """An approximate ``A^-1 r``: weighted Jacobi, the coarse correction, Jacobi again (symmetric)."""
        if self.coarse is None:  # the coarsest level: Jacobi alone (a few dozen unknowns)
            x = np.zeros_like(r)
            for _ in range(20):
                x = x + omega * self.inverse * (r - self(x))
            return x
        x = omega * self.inverse * r
        for _ in range(sweeps - 1):
            x = x + omega * self.inverse * (r - self(x))
        h, w = r.shape[-2:]
        coarse = self.coarse.v_cycle(_blocks(r - self(x)).sum(-1), sweeps, omega)  # restrict by summing a block
        x = x + np.where(self.solve, coarse.repeat(2, axis=-2).repeat(2, axis=-1)[..., :h, :w], 0.0)  # prolong
        for _ in range(sweeps):
            x = x + omega * self.inverse * (r - self(x))
        return x


def _conjugate_gradients(operator: _Operator, rhs: np.ndarray, x: np.ndarray, tolerance: float) -> np.ndarray:
    """``operator x = rhs`` per channel by conjugate gradients preconditioned with :meth:`_Operator.v_cycle`."""
    r = rhs - operator(x)
    z = operator.v_cycle(r)
    d, rz = z.copy(), (r * z).sum((1, 2))
    for _ in range(200):
        if not operator.solve.any() or np.abs(r).max() <= tolerance:
            break
        ad = operator(d)
        alpha = (rz / np.maximum((d * ad).sum((1, 2)), 1e-300))[:, None, None]
        x, r = x + alpha * d, r - alpha * ad
        z = operator.v_cycle(r)
        rz, previous = (r * z).sum((1, 2)), rz
        d = z + (rz / np.maximum(previous, 1e-300))[:, None, None] * d
    return x


def _blocks(a: np.ndarray) -> np.ndarray:
    """``(..., h, w)`` -> ``(..., ceil(h / 2), ceil(w / 2), 4)``: each 2x2 block's values (an odd side padded with
    zeros / False)."""
    a = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, a.shape[-2] % 2), (0, a.shape[-1] % 2)])
    h, w = a.shape[-2] // 2, a.shape[-1] // 2
    return a.reshape(*a.shape[:-2], h, 2, w, 2).swapaxes(-3, -2).reshape(*a.shape[:-2], h, w, 4)
