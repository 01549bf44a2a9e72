"""The prior over SIRENs (SIREN Sec. 4.4): encoders, latents, hypernetworks, the model, its training and checkpoints.

- :mod:`~hypersiren.prior.config` and :mod:`~hypersiren.prior.model`: :class:`HyperSirenConfig`, :class:`HyperSiren`
  (encode -> generate -> decode, the one forward path); :mod:`~hypersiren.prior.rendering`: where a rendering's
  pixels lie, at any size or any points; :mod:`~hypersiren.prior.sampler` and :mod:`~hypersiren.prior.sampling`:
  the generative part (a latent, its posterior and its prior) and the draws.
- :mod:`~hypersiren.prior.encoders`, :mod:`~hypersiren.prior.grid_encoder`, :mod:`~hypersiren.prior.blocks`: a partly
  observed image -> latent codes; :mod:`~hypersiren.prior.latent`: what flows between the parts;
  :mod:`~hypersiren.prior.hypernet`: codes -> SIREN parameters or modulations.
- :mod:`~hypersiren.prior.losses`, :mod:`~hypersiren.prior.batches`, :mod:`~hypersiren.prior.training`,
  :mod:`~hypersiren.prior.validation`, :mod:`~hypersiren.prior.ema`: what a training run needs besides its loop;
  :mod:`~hypersiren.prior.refine`: test-time optimisation on the observed pixels.
- :mod:`~hypersiren.prior.checkpoints`, :mod:`~hypersiren.prior.model_card`: safetensors + ``config.json``, strict;
  :mod:`~hypersiren.prior.pretrained`: the priors shipped in the package, by name.

May import: utils, siren, data, masks, metrics.
"""

from hypersiren.prior.checkpoints import CheckpointError
from hypersiren.prior.config import HyperSirenConfig
from hypersiren.prior.latent import Generated, Latent
from hypersiren.prior.model import HyperSiren, HyperSirenOutput

__all__ = ["CheckpointError", "Generated", "HyperSiren", "HyperSirenConfig", "HyperSirenOutput", "Latent"]
