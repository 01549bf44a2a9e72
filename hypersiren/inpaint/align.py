"""A face framed as CelebA's are: the square the model sees, placed by the face's eyes (SIREN supplement Sec. 9).

The priors learnt CelebA's *aligned* crops (``img_align_celeba``: 178x218, eyes level at fixed places), whose
centred 178x178 square the protocol resizes. A face elsewhere in a photo, smaller or tilted, is a smudge to them;
the same face moved into that framing is a face. :func:`detect` finds the largest frontal face and its eyes with
OpenCV's Haar cascades, which ship inside the ``opencv-python-headless`` wheel (offline, no weights to fetch; the
``[align]`` extra); :func:`frame` is the similarity transform that puts the detected eyes where the same detector
finds them on CelebA's aligned training faces (:data:`CELEBA_EYES`), or, with no trustworthy pair of eyes, the
face's box where the detector puts it on those faces (:data:`CELEBA_FACE`). Calibrating against the detector's
own output on the training faces cancels its biases (a Haar eye box is not centred on the pupil).

The result is a :class:`hypersiren.inpaint.composite.Frame`: the model's square in the picture (the completion is
mapped back through it). Without OpenCV, or without a face, there is no frame and the picture goes unaligned.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from hypersiren.inpaint.composite import Frame
from hypersiren.utils.extras import require

# Measured with this module's detect() on CelebA's aligned training faces (178x218 frame: the 89x109 copies of ids
# 1..3000, upsampled bicubic to 178x218; a face in 95.3% of them, both eyes in 78.2%), medians (std of the eyes
# 2-3 px, of the face box's centre 3-5 px and side 10 px):
#   python bench/probes/align_faces.py calibrate --limit 3000
CELEBA_EYES = ((67.8, 111.9), (107.8, 111.9))  # (x, y) of the eye on the image's left, then on its right
CELEBA_FACE = (89.0, 123.5, 105.0)  # the face box's centre (x, y) and side
CELEBA_SQUARE = ((89.0, 109.0), 178.0)  # the protocol's square: the centred 178x178 of the 178x218 crop
CALIBRATION = "3,000 aligned training faces (CelebA ids 1..3000, 89x109 upsampled to 178x218)"

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"
DETECT_SIDE = 640  # faces are searched for on the picture resized to at most this side (speed)
MIN_FACE = 24  # the smallest face searched for, in pixels of that resized picture
EYE_FACE_WIDTH = 200  # eyes are searched for in the face's box resized to this width (eyes of ~40 px)
EYE_TOLERANCE = 0.15  # a detected eye is trusted within this share of the face's side of where it is expected


class Face(NamedTuple):
    """A detected face, in the picture's continuous pixel coordinates.

    Attributes:
        box: ``(x, y, side)``: the face box's centre and side (OpenCV's face boxes are square).
        eyes: ``((x, y), (x, y))``: the eye on the image's left, then on its right; None where no pair was found.
    """

    box: tuple[float, float, float]
    eyes: tuple[tuple[float, float], tuple[float, float]] | None


@functools.cache
def _cascade(name: str):
    cv2 = require("cv2", "align")
    if not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 moved the Haar cascades out of the wheel
        raise ImportError(f"OpenCV {cv2.__version__} has no Haar cascades (they ship with OpenCV 4)")
    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if classifier.empty():
        raise ImportError(f"OpenCV's {name} is missing from {cv2.data.haarcascades}")
    return classifier


def _expected_eyes(box: tuple[float, float, float]) -> np.ndarray:
    """Where the eyes of a face with this box are on CelebA's faces: ``(2, 2)`` (x, y)."""
    (fx, fy, fside), (cx, cy, cside) = box, CELEBA_FACE
    return (np.asarray(CELEBA_EYES) - (cx, cy)) * (fside / cside) + (fx, fy)


def _eyes(grey: np.ndarray, box: tuple[float, float, float]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The pair of eyes closest to where they are expected in the face ``box`` of ``grey``, or None."""
    cv2 = require("cv2", "align")
    fx, fy, side = box
    left, top = int(max(0, fx - side / 2)), int(max(0, fy - side / 2))
    right, bottom = int(min(grey.shape[1], fx + side / 2)), int(min(grey.shape[0], fy + side * 0.1))
    if right - left < 8 or bottom - top < 8:
        return None
    k = EYE_FACE_WIDTH / (right - left)
    roi = cv2.resize(
        grey[top:bottom, left:right],
        (EYE_FACE_WIDTH, max(1, round((bottom - top) * k))),
        interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
    )
    found = _cascade(EYE_CASCADE).detectMultiScale(
        roi, 1.1, 3, minSize=(EYE_FACE_WIDTH // 10,) * 2, maxSize=(EYE_FACE_WIDTH // 3,) * 2
    )
    centres = [((ex + ew / 2) / k + left, (ey + eh / 2) / k + top) for ex, ey, ew, eh in found]
    expected = _expected_eyes(box)
    best = []
    for target in expected:
        d = [math.dist(c, target) for c in centres]
        i = int(np.argmin(d)) if d else -1
        if i < 0 or d[i] > EYE_TOLERANCE * side:
            return None
        best.append(centres[i])
    if best[0] == best[1]:
        return None
    return best[0], best[1]


def detect(pixels: np.ndarray) -> Face | None:
    """The largest frontal face in a picture, and its eyes where they are found.

    Args:
        pixels: ``(H, W, 3)`` uint8 RGB.

    Returns:
        A :class:`Face`, or None where no face is found.

    Raises:
        MissingExtraError: OpenCV is not installed (the ``[align]`` extra).
    """
    cv2 = require("cv2", "align")
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)  # (H, W)
    h, w = grey.shape
    k = min(1.0, DETECT_SIDE / max(h, w))
    small = cv2.resize(grey, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    faces = _cascade(FACE_CASCADE).detectMultiScale(cv2.equalizeHist(small), 1.1, 5, minSize=(MIN_FACE, MIN_FACE))
    if len(faces) == 0:
        return None
    x, y, fw, fh = max(faces, key=lambda f: f[2] * f[3])
    box = ((x + fw / 2) / k, (y + fh / 2) / k, (fw + fh) / 2 / k)
    return Face(box, _eyes(cv2.equalizeHist(grey), box))


def _square(a: complex, b: complex) -> tuple[complex, float, float]:
    """The protocol's square of the aligned crop in the picture, for the similarity ``z -> a z + b`` from the
    picture onto the crop: its centre, side and angle."""
    (sx, sy), side = CELEBA_SQUARE
    return (complex(sx, sy) - b) / a, side / abs(a), -math.atan2(a.imag, a.real)


def frame(face: Face, by: str = "both") -> Frame:
    """The model's square for a face: the similarity that maps it onto CelebA's aligned crop, inverted.

    Args:
        face: from :func:`detect`.
        by: ``box``: the face box's place and size, upright; ``eyes``: the similarity that puts both eyes on
            :data:`CELEBA_EYES` (turned as they are); ``both``: the two squares' mean centre and side, turned as the
            eyes are. Without a pair of eyes, the box.
    """
    if by not in ("box", "eyes", "both"):
        raise ValueError(f"by is box, eyes or both, not {by!r}")
    (fx, fy, side), (cx, cy, cside) = face.box, CELEBA_FACE
    a = complex(cside / side)
    centre, side, angle = _square(a, complex(cx, cy) - a * complex(fx, fy))
    if by != "box" and face.eyes is not None:
        (p0, p1), (t0, t1) = [complex(*e) for e in face.eyes], [complex(*e) for e in CELEBA_EYES]
        a = (t1 - t0) / (p1 - p0)
        eye_centre, eye_side, angle = _square(a, t0 - a * p0)
        if by == "both":  # two noisy estimates of one square (the detector's eyes and box err independently)
            centre, side = (centre + eye_centre) / 2, (side + eye_side) / 2
        else:
            centre, side = eye_centre, eye_side
    return Frame((centre.real, centre.imag), side, angle, "face")
