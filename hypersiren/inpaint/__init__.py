"""Inpainting with a prior or a classical fill: pictures of any size, the completion pipeline and its evaluation.

- :mod:`~hypersiren.inpaint.picture`: a picture and its hole read for the model, in any mode, on the model's grid.
- :mod:`~hypersiren.inpaint.composite`: the square the model sees (around the hole, or a face's), and the picture
  back at its own size: the SIREN at the picture's own pixels, blended into the hole;
  :mod:`~hypersiren.inpaint.blend`: the two blends (a linear fade, Poisson).
- :mod:`~hypersiren.inpaint.align`: a face framed as CelebA's aligned crops are (OpenCV's Haar cascades).
- :mod:`~hypersiren.inpaint.classical`: the fills a user could pick instead (mean, nearest, linear, biharmonic);
  :mod:`~hypersiren.inpaint.nearest_faces`: the sampler a user could write instead (the nearest training faces).
- :mod:`~hypersiren.inpaint.pipeline`: a batch completed, a data set evaluated per image.
- :mod:`~hypersiren.inpaint.picture_completion`: a picture completed (its mean) or sampled (K draws), at its own
  size too, and scored against itself.
- :mod:`~hypersiren.inpaint.sample_evaluation`: a sampler's K completions per face, scored.

May import: utils, siren, data, masks, metrics, prior.
"""

from hypersiren.inpaint.picture import Picture, check_hole, load_picture
from hypersiren.inpaint.picture_completion import complete_picture, sample_picture
from hypersiren.inpaint.pipeline import evaluate

__all__ = ["Picture", "check_hole", "complete_picture", "evaluate", "load_picture", "sample_picture"]
