"""Training the prior (SIREN supplement Sec. 9; ours where named): everything a run needs besides its loop
(``train/celeba.py``), apart from the model, which inference needs alone (:mod:`hypersiren.prior`).

- :mod:`~hypersiren.training.batches`: which images a step sees and what it shows the encoder, renders and
  supervises (context, pixel subsets, points off the lattice), every draw seeded by (seed, step, process).
- :mod:`~hypersiren.training.hires`: the faces at the resolutions they really exist at (off-lattice targets).
- :mod:`~hypersiren.training.losses`: the prior's loss (the paper's, with our options) and the sampler's.
- :mod:`~hypersiren.training.validation`: a run's validation at fixed contexts, gathered by the caller.
- :mod:`~hypersiren.training.ema`: the exponential moving average of the weights.
- :mod:`~hypersiren.training.runs`: checkpoint folders, resuming, starting from a prior's weights.

The learning-rate schedules are :mod:`hypersiren.utils.schedules` (fitting one signal shares them).

May import: utils, siren, data, metrics, masks, prior.
"""

from hypersiren.training.batches import Batch, batch_indices, training_batch
from hypersiren.training.ema import EMA
from hypersiren.training.losses import LossTerms, prior_loss, sampler_loss
from hypersiren.training.validation import validate, validation_masks

__all__ = [
    "EMA",
    "Batch",
    "LossTerms",
    "batch_indices",
    "prior_loss",
    "sampler_loss",
    "training_batch",
    "validate",
    "validation_masks",
]


def __getattr__(name: str) -> object:  # the names of the 0.1 module of this name, for one release
    from hypersiren._moved import old_name

    return old_name(__name__, name)
