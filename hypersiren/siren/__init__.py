"""The SIREN and its derivatives (SIREN Sec. 3 and 4.1): the network, its baselines, coordinates, derivative operators.

- :mod:`~hypersiren.siren.network`: :class:`Siren` and :class:`SineLayer` with the official initialisation, per-sample
  parameters and modulations evaluated batched.
- :mod:`~hypersiren.siren.baselines`: the paper's same-size ReLU, tanh and ReLU + positional-encoding networks.
- :mod:`~hypersiren.siren.coords`: coordinate grids and image <-> point-set conversion.
- :mod:`~hypersiren.siren.operators`: autograd gradient / divergence / Laplacian and finite differences.
- :mod:`~hypersiren.siren.derivatives`, :mod:`~hypersiren.siren.derivative_layers`,
  :mod:`~hypersiren.siren.fused_gradient`: a SIREN's input derivatives carried forward layer by layer.

May import: utils.
"""

from hypersiren.siren.baselines import ARCHS, make_model
from hypersiren.siren.coords import grid, image_to_points, points_to_image
from hypersiren.siren.network import SineLayer, Siren

__all__ = ["ARCHS", "SineLayer", "Siren", "grid", "image_to_points", "make_model", "points_to_image"]


def __getattr__(name: str) -> object:  # the names of the 0.1 module of this name, for one release
    from hypersiren._moved import old_name

    return old_name(__name__, name)
