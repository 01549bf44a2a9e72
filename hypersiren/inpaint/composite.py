"""The picture at its own size: the square the model sees, and the completion pasted back into the picture.

The model sees a square of the picture (the CelebA protocol's geometry, SIREN supplement Sec. 9): a :class:`Frame`,
the centred square of the shorter side by default (:func:`choose_frame`), the smallest square around the hole
where that one does not hold it, or a face's square aligned as CelebA's crops are
(:func:`hypersiren.inpaint.align.frame`). The square is resampled to the model's side with the protocol's
antialiased bilinear resize (:func:`square_image`), encoded once, and the generated SIREN is then evaluated at the
picture's own pixel centres mapped into the square's [-1, 1] (:meth:`Frame.points`, the ``align_corners=False``
convention of :mod:`hypersiren.siren.coords`), only where the picture needs it: the hole and a band of ``band``
pixels around it (Euclidean distance, :data:`BAND` by default), where it meets the picture in one of the
:data:`BLENDS` of :mod:`hypersiren.inpaint.blend`: ``poisson`` (the default: no edge at the hole's border where the
completion's brightness or tint differs from the picture's) or ``linear`` (a fade across the band). Either way, every
pixel beyond the band is the picture's own, byte for byte; with ``band=0`` only the hole changes.
``bench/probes/seamless_composite.py`` measures both.

Picture coordinates are continuous: pixel ``(i, j)`` (row, column) covers ``[j, j + 1) x [i, i + 1)``, its centre
is ``(j + 0.5, i + 0.5)``, as PIL's ``crop``, ``resize`` and ``transform`` read them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from hypersiren.data.images import center_box, crop_resize
from hypersiren.inpaint.blend import STEPS, blend_weights, neighbour, paste, poisson_blend

BAND = 3  # pixels outside the hole that the blend may change (the linear fade's width)
BLENDS = ("poisson", "linear")
BLEND = "poisson"  # bench/probes/seamless_composite.py: no visible border at the hole's edge
GROW = 2.0  # the square around a hole: this many times the hole's longer side (a hole of half the side, as the centre)


class Frame(NamedTuple):
    """Where the model's square lies in a picture: the square's ``[-1, 1]`` is ``centre +- side / 2``, rotated.

    Attributes:
        centre: ``(x, y)`` of the square's centre, in the picture's continuous pixel coordinates.
        side: the square's side in picture pixels.
        angle: the square's rotation in radians (its x axis's direction in the picture; 0: upright).
        kind: how it was chosen: ``centre``, ``hole``, ``face`` or ``given``.
    """

    centre: tuple[float, float]
    side: float
    angle: float = 0.0
    kind: str = "given"

    @classmethod
    def from_box(cls, box: tuple[int, int, int, int], kind: str = "given") -> Frame:
        """An upright square ``(left, top, right, bottom)`` in pixels."""
        left, top, right, bottom = box
        if right - left != bottom - top or right <= left:
            raise ValueError(f"the model's square must be a square, got the box {box}")
        return cls(((left + right) / 2, (top + bottom) / 2), float(right - left), 0.0, kind)

    @property
    def upright_box(self) -> tuple[int, int, int, int] | None:
        """The square as whole pixels ``(left, top, right, bottom)`` if it is upright on the pixel grid, else None."""
        left, top = self.centre[0] - self.side / 2, self.centre[1] - self.side / 2
        if self.angle != 0 or not all(float(v).is_integer() for v in (left, top, self.side)):
            return None
        return int(left), int(top), int(left + self.side), int(top + self.side)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The square's bounding box ``(left, top, right, bottom)`` in whole pixels (may reach beyond the picture)."""
        if (box := self.upright_box) is not None:
            return box
        (cx, cy), half = self.centre, self.side / 2 * (abs(math.cos(self.angle)) + abs(math.sin(self.angle)))
        return math.floor(cx - half), math.floor(cy - half), math.ceil(cx + half), math.ceil(cy + half)

    def to_square(self, xy: np.ndarray) -> np.ndarray:
        """Picture coordinates ``(..., 2)`` (x, y) -> the square's ``(..., 2)`` (x, y) in [-1, 1] (beyond: outside)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        d = np.asarray(xy, dtype=np.float64) - np.asarray(self.centre)
        return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1) * (2 / self.side)

    def to_picture(self, uv: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_square`."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        d = np.asarray(uv, dtype=np.float64) * (self.side / 2)
        return np.stack([c * d[..., 0] - s * d[..., 1], s * d[..., 0] + c * d[..., 1]], -1) + np.asarray(self.centre)

    def contains(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether the centres of the picture's pixels ``(rows, cols)`` (any matching shapes) lie in the square."""
        return (np.abs(self.to_square(np.stack([cols + 0.5, rows + 0.5], -1))) <= 1).all(-1)

    def points(self, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
        """The picture's pixel centres as the model's points: ``(N,)`` rows and columns -> ``(N, 2)`` (y, x).

        For :meth:`hypersiren.HyperSiren.decode_points`: the square spans [-1, 1] edge to edge.
        """
        uv = self.to_square(np.stack([cols + 0.5, rows + 0.5], -1))  # (N, 2) (x, y)
        return torch.from_numpy(uv[:, ::-1].copy()).to(torch.float32)  # (N, 2) (y, x)


def hole_box(missing: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bounding box ``(left, top, right, bottom)`` of the True pixels of ``(H, W)`` ``missing``, or None."""
    rows, cols = np.nonzero(missing.any(1))[0], np.nonzero(missing.any(0))[0]
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def holds(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> bool:
    """Whether the box ``inner`` lies inside the box ``outer`` (both ``(left, top, right, bottom)``)."""
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def around(hole: tuple[int, int, int, int], width: int, height: int, min_side: int, grow: float = GROW) -> Frame:
    """The smallest square around a hole: ``grow`` times its longer side, at least ``min_side``, at most the
    picture's shorter side, centred on the hole and shifted to lie inside the picture."""
    left, top, right, bottom = hole
    side = min(min(width, height), max(min_side, math.ceil(grow * max(right - left, bottom - top))))
    x = min(max(0, (left + right - side) // 2), width - side)
    y = min(max(0, (top + bottom - side) // 2), height - side)
    return Frame.from_box((x, y, x + side, y + side), "hole")


def choose_frame(width: int, height: int, hole: tuple[int, int, int, int] | None, min_side: int) -> Frame:
    """The square the model sees: the centred square of the shorter side if it holds the hole's bounding box
    (or there is no hole), else :func:`around` the hole."""
    centre = center_box(width, height)
    if hole is None or holds(centre, hole):
        return Frame.from_box(centre, "centre")
    return around(hole, width, height, min_side)


def _transform(image: Image.Image, frame: Frame, side: int, fill: int | tuple[int, ...]) -> Image.Image:
    """The frame's square of ``image`` as an upright ``side x side`` image (bilinear), ``fill`` outside the picture."""
    c, s, k = math.cos(frame.angle), math.sin(frame.angle), frame.side / side
    x0, y0 = frame.to_picture(np.array([-1.0, -1.0]))  # the square's (-1, -1) corner in the picture
    # PIL's affine maps output (x, y) to input (a x + b y + c, d x + e y + f), both continuous
    data = (k * c, -k * s, x0, k * s, k * c, y0)
    return image.transform((side, side), Image.AFFINE, data, resample=Image.BILINEAR, fillcolor=fill)


def square_image(image: Image.Image, frame: Frame, size: int, fill: int | tuple[int, ...] = 0) -> Image.Image:
    """The frame's square of ``image`` (any mode) at ``size x size``, as the CelebA protocol resizes.

    An upright square on the pixel grid is cropped, then resized with :func:`hypersiren.data.crop_resize` (so the
    centred square gives exactly the protocol's picture); another is first resampled upright at about its own
    scale (bilinear), then resized the same way, so that a downscale stays antialiased.
    """
    box = frame.upright_box
    if box is not None and holds((0, 0, *image.size), box):
        return crop_resize(image.crop(box) if box != (0, 0, *image.size) else image, size)
    return crop_resize(_transform(image, frame, max(size, round(frame.side)), fill), size)


def hole_from_grid(missing: torch.Tensor, frame: Frame, width: int, height: int) -> np.ndarray:
    """A hole on the model's grid (a preset) as the picture's pixels whose centres fall in its missing pixels.

    Args:
        missing: ``(S, S)`` bool, True = missing on the model's grid.

    Returns:
        ``(H, W)`` bool.
    """
    hole = np.zeros((height, width), bool)
    s = missing.shape[-1]
    rows, cols = np.nonzero(missing.cpu().numpy())
    if len(rows) == 0:
        return hole
    corners = (
        np.array(
            [
                [cols.min(), rows.min()],
                [cols.max() + 1, rows.min()],
                [cols.min(), rows.max() + 1],
                [cols.max() + 1, rows.max() + 1],
            ]
        )
        * (2 / s)
        - 1
    )
    xy = frame.to_picture(corners)  # the missing pixels' bounding box, in the picture
    left, top = np.floor(xy.min(0)).astype(int).clip(0, (width, height))
    right, bottom = np.ceil(xy.max(0)).astype(int).clip(0, (width, height))
    yy, xx = np.mgrid[top:bottom, left:right]
    uv = frame.to_square(np.stack([xx + 0.5, yy + 0.5], -1))  # (h, w, 2) (x, y)
    index = np.floor((uv + 1) / 2 * s).astype(int)
    ok = ((index >= 0) & (index < s)).all(-1)
    index = index.clip(0, s - 1)
    hole[top:bottom, left:right] = ok & missing.cpu().numpy()[index[..., 1], index[..., 0]]
    return hole


def render_into(
    model: torch.nn.Module,
    generated,
    pixels: np.ndarray,
    frame: Frame,
    hole: np.ndarray,
    band: int = BAND,
    block: int = 65536,
    blend: str = BLEND,
) -> np.ndarray:
    """The generated SIREN pasted into the picture at its own pixels: the hole filled, blended across ``band``.

    Args:
        model: the :class:`hypersiren.HyperSiren` whose :meth:`~hypersiren.HyperSiren.decode_points` renders.
        generated: its one generated SIREN (batch 1).
        pixels: ``(H, W, C)`` uint8, the picture.
        frame: the model's square in the picture.
        hole: ``(H, W)`` bool, the pixels to complete; only those inside the square are.
        band: the pixels within this Euclidean distance of the hole (inside the square) are blended; see
            :func:`blend_weights` (``linear``) and :func:`poisson_blend` (``poisson``, which also renders the ring
            one pixel beyond them for the guide's differences there).
        block: render at most this many points at a time (memory).
        blend: one of :data:`BLENDS`.

    Returns:
        ``(H, W, C)`` uint8: ``pixels`` beyond the hole and its band exactly, the blended completion on them.
    """
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}")
    height, width = hole.shape
    found = hole_box(hole)
    if found is None:
        return pixels.copy()
    reach = band + (blend == "poisson")  # poisson: the ring beyond the band too, for the guide
    left, top = max(0, found[0] - reach), max(0, found[1] - reach)
    right, bottom = min(width, found[2] + reach), min(height, found[3] + reach)
    within = frame.contains(*np.mgrid[top:bottom, left:right])  # (h, w): the hole's region, inside the square
    region = torch.from_numpy(hole[top:bottom, left:right] & within)
    weights = (blend_weights(region, band).numpy() * within).astype(np.float64)  # (h, w)
    if not (weights > 0).any():
        return pixels.copy()
    changed = weights > 0  # (h, w)
    drawn = changed
    if blend == "poisson":  # and the 4-neighbours of the changed pixels
        near = [neighbour(changed, dy, dx, False) for dy, dx in STEPS]
        drawn = (changed | np.logical_or.reduce(near)) & within
    rows, cols = np.nonzero(drawn)
    points = frame.points(rows + top, cols + left).to(next(model.parameters()).device)  # (N, 2) (y, x)
    scale = math.log2(frame.side / model.config.image_size)  # the picture's pixels against the model's (the cell)
    with torch.inference_mode():
        values = torch.cat(
            [
                model.decode_points(generated, points[i : i + block], scale=scale)[0].cpu()
                for i in range(0, len(points), block)
            ],
            1,
        )  # (C, N)
    if blend == "linear":
        return paste(pixels, values, rows + top, cols + left, weights[rows, cols])
    box = pixels[top:bottom, left:right]  # (h, w, C)
    fill = np.full(box.shape, np.nan)
    fill[rows, cols] = (values.to(torch.float64).clamp(-1, 1).numpy().T + 1) * 127.5  # (N, C) on [0, 255]
    blended = poisson_blend(box, fill, changed, ~hole[top:bottom, left:right])
    out = pixels.copy()
    out[top:bottom, left:right][changed] = np.clip(np.round(blended[changed]), 0, 255).astype(np.uint8)
    return out
