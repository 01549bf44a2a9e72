"""Classical image fills: what a user could pick instead of a learned prior (baselines for SIREN Sec. 4.4).

Each method completes the missing pixels of an image from its observed ones, and copies the observed
pixels exactly:

- ``mean``: every missing pixel gets the image's mean colour over its observed pixels.
- ``nearest``: the colour of the nearest observed pixel (``scipy.spatial.cKDTree``; ties are broken
  as the tree breaks them, as in ``scipy.interpolate.griddata(..., method="nearest")``).
- ``linear``: piecewise-linear interpolation over the Delaunay triangulation of the observed pixel
  centres, i.e. ``scipy.interpolate.griddata(..., method="linear")``, with the nearest observed
  pixel's colour outside their convex hull (where ``griddata`` gives NaN).
- ``biharmonic``: the biharmonic (thin-plate) equation solved over the missing pixels with the observed
  ones as boundary values, ``skimage.restoration.inpaint_biharmonic(image, ~observed, channel_axis=-1)``
  (scikit-image clips each channel to its observed range).

These are CPU library calls, so :func:`fill` loops over the images of a batch; within an image the
triangulation (or k-d tree) is built once and serves every channel. Not in the official SIREN code.
"""

from __future__ import annotations

import numpy as np
import torch

from hypersiren.utils.extras import require

METHODS = ("mean", "nearest", "linear", "biharmonic")


def _nearest(points: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    cKDTree = require("scipy.spatial", "eval").cKDTree

    _, index = cKDTree(points).query(queries)
    return values[index]


def _linear(points: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    LinearNDInterpolator = require("scipy.interpolate", "eval").LinearNDInterpolator
    QhullError = require("scipy.spatial", "eval").QhullError

    if len(points) < 3:  # no triangle: everything lies outside the (empty) hull
        return _nearest(points, values, queries)
    try:
        interpolator = LinearNDInterpolator(points, values)  # one triangulation for all channels
    except QhullError:  # collinear observed pixels: a flat hull
        return _nearest(points, values, queries)
    out = interpolator(queries)  # (Q, C), NaN outside the convex hull
    outside = np.isnan(out).any(axis=1)
    if outside.any():
        out[outside] = _nearest(points, values, queries[outside])
    return out


def _fill_one(image: np.ndarray, observed: np.ndarray, method: str) -> np.ndarray:
    """One image: ``(H, W, C)`` float64 values and ``(H, W)`` bool observed -> ``(H, W, C)`` filled."""
    if method == "biharmonic":
        inpaint_biharmonic = require("skimage.restoration", "eval").inpaint_biharmonic

        return inpaint_biharmonic(image, ~observed, channel_axis=-1)
    points = np.argwhere(observed).astype(np.float64)  # (N, 2) pixel centres, (y, x)
    queries = np.argwhere(~observed).astype(np.float64)  # (Q, 2)
    values = image[observed]  # (N, C)
    out = image.copy()
    if method == "mean":
        out[~observed] = values.mean(axis=0)
    elif method == "nearest":
        out[~observed] = _nearest(points, values, queries)
    else:
        out[~observed] = _linear(points, values, queries)
    return out


def fill(images: torch.Tensor, observed: torch.Tensor, method: str) -> torch.Tensor:
    """Complete the missing pixels of each image with a classical method.

    Args:
        images: ``(B, C, H, W)`` on [-1, 1]; the values at missing pixels are never read.
        observed: ``(B, 1, H, W)`` bool, True = known pixel.
        method: one of :data:`METHODS`.

    Raises:
        ValueError: an unknown method (the valid ones are listed), mismatched shapes, a non-bool
            ``observed``, or an image with a missing pixel but no observed one (nothing to fill from).

    Returns:
        ``(B, C, H, W)`` on [-1, 1], same dtype and device as ``images``; observed pixels copied exactly.
    """
    if method not in METHODS:
        raise ValueError(f"unknown fill method {method!r}; valid methods: {', '.join(METHODS)}")
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    b, _, h, w = images.shape
    if tuple(observed.shape) != (b, 1, h, w):
        raise ValueError(
            f"observed must be (B, 1, H, W) = {(b, 1, h, w)} for images {tuple(images.shape)}, "
            f"got {tuple(observed.shape)}"
        )
    if observed.dtype != torch.bool:
        raise ValueError(f"observed must be a bool tensor (True = known pixel), got {observed.dtype}")
    counts = observed.sum((1, 2, 3))  # (B,)
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"the {method} fill needs at least one observed pixel per image; image(s) {empty[:10]} have none"
        )
    x = images.detach().cpu().double().permute(0, 2, 3, 1).numpy()  # (B, H, W, C)
    obs = observed.detach().cpu()[:, 0].numpy()  # (B, H, W)
    out = x.copy()
    for i in range(b):
        if counts[i] < h * w:  # nothing to do on a fully observed image
            out[i] = _fill_one(x[i], obs[i], method)
    filled = torch.from_numpy(out).permute(0, 3, 1, 2).to(images.device, images.dtype).clamp(-1, 1)
    return torch.where(observed, images, filled)  # observed pixels exactly as given
