"""hypersiren: SIREN implicit neural representations and a learned SIREN prior for inpainting.

Implements Sitzmann et al., "Implicit Neural Representations with Periodic Activation Functions"
(NeurIPS 2020): the SIREN (Sec. 3), its derivative supervision (Sec. 4.1) and the hypernetwork prior
over SIRENs trained on CelebA (Sec. 4.4, supplement Sec. 9).

Conventions, used by every module:
- Coordinates lie in [-1, 1] per axis; the last dimension is the coordinate dimension; images use
  (y, x) order.
- Signal values inside models lie in [-1, 1]; images are ``(B, C, H, W)``; point sets ``(B, N, C)``.
- A mask is always named ``observed``: bool, True = known pixel.
- Metrics are computed per sample, then averaged.
- Randomness goes through explicit ``torch.Generator`` objects seeded from (seed, step).
"""

from hypersiren.model import HyperSiren, HyperSirenConfig
from hypersiren.siren import SineLayer, Siren

__all__ = ["HyperSiren", "HyperSirenConfig", "SineLayer", "Siren"]
__version__ = "0.1.0"
