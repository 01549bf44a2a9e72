"""What every room shares: configs from YAML and the command line, seeded random streams, optional packages.

- :mod:`~hypersiren.utils.config`: dataclass configs (field = YAML key = ``--flag``), coerced and checked.
- :mod:`~hypersiren.utils.seeds`: one ``torch.Generator`` per tuple of integer keys, e.g. (seed, step).
- :mod:`~hypersiren.utils.extras`: an optional package, or a message naming the extra that installs it.
- :mod:`~hypersiren.utils.hardware`: whether this machine computes bfloat16 natively.

May import: nothing of hypersiren.
"""

from hypersiren.utils.config import ConfigError
from hypersiren.utils.extras import MissingExtraError, require
from hypersiren.utils.hardware import native_bf16
from hypersiren.utils.seeds import generator, seed_of

__all__ = ["ConfigError", "MissingExtraError", "generator", "native_bf16", "require", "seed_of"]
