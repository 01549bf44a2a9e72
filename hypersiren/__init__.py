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
- Inference calls (``inpaint``, ``render``, ``sample``) return tensors without autograd history.

The rooms, from the ground up (each subpackage's docstring says what lives there and names the rooms it may
import; ``tests/test_layout.py`` holds the code to it, and to this order: a room imports only rooms listed
before it):

    utils     configs, seeded generators, optional packages
    siren     the network, its baselines, coordinates, derivatives
    data      the CelebA protocol's preprocessing and the data sources
    metrics   MSE, PSNR, SSIM, LPIPS per sample
    masks     observed masks by kind, training context, resampling
    fitting   one signal fitted with one network
    prior     the model: encoders, latents, hypernetworks, rendering, the sampler, checkpoints, shipped priors
    training  what a training run needs besides its loop: batches, losses, validation, the average, run folders
    inpaint   pictures, classical fills and samplers, blends, the completion pipeline and its evaluation
    app       the demo page and what the scripts share (the one room that prints)

The 0.1 module paths (``hypersiren.model``, ``hypersiren.demo``, ...) still import, with a
``DeprecationWarning``, until 0.3, not before 2027-03-01 (:mod:`hypersiren._moved`).
"""

from hypersiren import _moved
from hypersiren.fitting.loop import fit
from hypersiren.masks.kinds import make_observed
from hypersiren.prior.config import HyperSirenConfig
from hypersiren.prior.model import HyperSiren
from hypersiren.siren.network import SineLayer, Siren

_moved.install()

__all__ = ["HyperSiren", "HyperSirenConfig", "SineLayer", "Siren", "fit", "make_observed"]
__version__ = "0.2.0"
