"""What a person runs: the demo page and what the scripts in ``train/``, ``eval/`` and ``bench/`` share.

- :mod:`~hypersiren.app.demo`: the Gradio page (``python -m hypersiren.app.demo``, ``hypersiren-demo``); its
  requests (:mod:`~hypersiren.app.complete_request`, :mod:`~hypersiren.app.sample_request`), what they share
  (:mod:`~hypersiren.app.page_input`) and their limits (:mod:`~hypersiren.app.uploads`).
- :mod:`~hypersiren.app.scripts`: a script's ``__main__``: ``--help``, the config from the command line, one
  ``error:`` line and exit status 2 for bad input.
- :mod:`~hypersiren.app.sources`: the model and the images an evaluation names; :mod:`~hypersiren.app.picture_run`:
  ``eval/inpaint.py --image``'s picture completed or sampled, written out.
- :mod:`~hypersiren.app.figures`, :mod:`~hypersiren.app.reports`: figures, tables, ``metrics.json`` and CSV files.

The one room that prints. May import: utils, siren, data, masks, metrics, fitting, prior, inpaint.
"""

from hypersiren.app.sources import load_images, load_model

__all__ = ["load_images", "load_model"]
