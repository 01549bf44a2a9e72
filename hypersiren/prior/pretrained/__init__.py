"""The priors shipped inside the package, by name: ``HyperSiren.from_pretrained("celeba32")``.

Every subfolder of this folder that holds a ``config.json`` is a shipped prior, named after the folder
(``celeba32/``, ``celeba64/``: ``config.json``, ``model.safetensors`` or, above 20 MB, its shards and
``model.safetensors.index.json`` (the Hub's layout), ``README.md`` model card). Nothing here is
hard-coded, so a prior added later is found the same way.

    >>> import hypersiren.prior.pretrained
    >>> hypersiren.prior.pretrained.available()
    ['celeba32', 'celeba64']
"""

from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent
DEFAULT = "celeba32"  # the prior that scripts and the demo load when none is named


def available() -> list[str]:
    """The names of the shipped priors, sorted."""
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())


def path(name: str) -> Path:
    """The folder of the shipped prior ``name``.

    Raises:
        KeyError: no shipped prior has that name (the message lists the shipped ones).
    """
    if name not in available():
        raise KeyError(f"no shipped prior named {name!r}; shipped: {', '.join(available()) or 'none'}")
    return PRETRAINED_DIR / name


__all__ = ["DEFAULT", "PRETRAINED_DIR", "available", "path"]
