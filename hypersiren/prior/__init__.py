"""The prior over SIRENs (SIREN Sec. 4.4): what inference needs, the model and its parts, saving and loading.

- :mod:`~hypersiren.prior.model`: :class:`HyperSiren`, the whole model readable in one class (encode -> generate ->
  decode, the one forward path; ``inpaint``, ``render``, ``sample``, ``draw``); :mod:`~hypersiren.prior.config`: its
  :class:`HyperSirenConfig`.
- its parts: :mod:`~hypersiren.prior.encoders`, :mod:`~hypersiren.prior.grid_encoder`, :mod:`~hypersiren.prior.blocks`
  (a partly observed image -> latent codes); :mod:`~hypersiren.prior.latent` (what flows between the parts);
  :mod:`~hypersiren.prior.hypernet` (codes -> SIREN parameters or modulations); :mod:`~hypersiren.prior.rendering`
  and :mod:`~hypersiren.prior.fused_render` (where a rendering's pixels lie; the SIRENs evaluated there);
  :mod:`~hypersiren.prior.sampler` (the generative part: completions drawn from the mean completion).
- :mod:`~hypersiren.prior.refine`: test-time optimisation on the observed pixels.
- :mod:`~hypersiren.prior.checkpoints`, :mod:`~hypersiren.prior.model_card`: safetensors + ``config.json``, strict;
  :mod:`~hypersiren.prior.pretrained`: the priors shipped in the package, by name.

Training (losses, batches, validation, the weights' average, run folders) is :mod:`hypersiren.training`.

May import: utils, siren, data, masks, metrics.
"""

from hypersiren.prior.checkpoints import CheckpointError
from hypersiren.prior.config import HyperSirenConfig
from hypersiren.prior.latent import Generated, Latent
from hypersiren.prior.model import HyperSiren, HyperSirenOutput

__all__ = ["CheckpointError", "Generated", "HyperSiren", "HyperSirenConfig", "HyperSirenOutput", "Latent"]
