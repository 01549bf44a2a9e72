"""Probe: how much of a Poisson fit's error is harmonic (docs/results.md, "From the Laplacian by the Ritz energy").

A fit from the Laplacian alone cannot see a harmonic function: on a square any ``Re z^k`` or ``Im z^k`` (z = x + i y on
the coordinate grid, [-1, 1] per axis) has a zero Laplacian, so the fit's error may hold any of them. This probe
takes a saved prediction (the ``siren.png`` that ``eval/fit.py poisson`` writes into its ``--out`` folder, already
aligned by a least-squares scale and offset) and the image it was fitted to, projects their difference on the
harmonic polynomials up to each ``--degrees`` by least squares, and prints the PSNR of the error as it is, without
its projection on the plane (degree <= 1: 1, x, y) and without every harmonic polynomial up to each degree. PSNR on
[-1, 1] values with range 2, as the fit's own (:func:`hypersiren.metrics.psnr`); the last line is the summary.

    python eval/fit.py poisson --size 256 --supervise laplacian --bf16 --steps 1950 --lr 1e-4 --lr_schedule cosine \
        --lr_final 1e-6 --out runs/poisson-laplacian
    python bench/probes/harmonic_projection.py --prediction runs/poisson-laplacian/siren.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hypersiren.fitting.signals import load_image  # noqa: E402
from hypersiren.metrics.image import psnr_from_mse  # noqa: E402
from hypersiren.siren.coords import grid  # noqa: E402


def harmonic_basis(side: int, degree: int) -> torch.Tensor:
    """``Re z^k`` (k = 0..degree) and ``Im z^k`` (k = 1..degree) on the ``side x side`` grid, float64, each column
    scaled to unit norm (z^32 reaches 2^16 in the corners): ``(side^2, 2 degree + 1)``."""
    yx = grid(side, side, dtype=torch.float64)  # (N, 2), (y, x) order
    z = torch.complex(yx[:, 1], yx[:, 0])  # x + i y
    powers = torch.stack([z**k for k in range(degree + 1)], 1)  # (N, degree + 1)
    basis = torch.cat([powers.real, powers.imag[:, 1:]], 1)  # Im z^0 = 0 is left out
    return basis / basis.norm(dim=0)


def without_projection(error: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``error`` ``(N,)`` minus its least-squares projection on the columns of ``basis`` ``(N, K)``."""
    q, _ = torch.linalg.qr(basis)  # (N, K): an orthonormal basis of the same span
    return error - q @ (q.T @ error)


def project(prediction: torch.Tensor, image: torch.Tensor, degrees: Sequence[int]) -> dict[int | None, float]:
    """PSNR (range 2) of ``prediction - image`` as is (key None) and without the harmonic polynomials up to each degree.

    Args:
        prediction, image: ``(1, S, S)`` in [-1, 1].
    """
    if prediction.shape != image.shape or prediction.shape[0] != 1:
        shapes = f"{tuple(prediction.shape)}, {tuple(image.shape)}"
        raise ValueError(f"a gray prediction and image of one shape, got {shapes}")
    error = (prediction.double() - image.double()).flatten()  # (N,), grid order
    out: dict[int | None, float] = {None: psnr_from_mse(error.square().mean(), 2.0).item()}
    for degree in degrees:
        rest = without_projection(error, harmonic_basis(image.shape[-1], degree))
        out[degree] = psnr_from_mse(rest.square().mean(), 2.0).item()
    return out


def main(args: argparse.Namespace) -> dict[int | None, float]:
    """Print the PSNR at each degree; returns ``{None: as is, degree: without the harmonics up to it}``."""
    prediction = load_image(args.prediction)
    if prediction.shape[0] == 3:  # eval/fit.py fits the gray mean; a PNG viewer may have saved it as RGB
        prediction = prediction.mean(0, keepdim=True)
    image = load_image(args.image, prediction.shape[-1]).mean(0, keepdim=True)  # (1, S, S), as eval/fit.py fits it
    result = project(prediction, image, args.degrees)
    print(f"{args.prediction} against {args.image or 'camera'} at {image.shape[-1]}x{image.shape[-1]}")
    print(f"  error as is: {result[None]:.2f} dB")
    for degree in args.degrees:
        print(f"  without the harmonic polynomials up to degree {degree}: {result[degree]:.2f} dB")
    shown = " / ".join(f"{result[k]:.2f}" for k in result)
    print(f"harmonic projection: error PSNR {shown} dB (as is / up to degree {' / '.join(map(str, args.degrees))})")
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prediction", required=True, help="the fit's saved prediction (eval/fit.py's OUT/siren.png)")
    p.add_argument("--image", default=None, help="the image it was fitted to (default: scikit-image's camera)")
    p.add_argument("--degrees", type=int, nargs="+", default=[1, 32], help="harmonic degrees removed (default 1 32)")
    args = p.parse_args(argv)
    if min(args.degrees) < 0:
        p.error("--degrees must be >= 0")
    return args


if __name__ == "__main__":
    main(parse_args())
