"""The module paths of hypersiren 0.1's flat layout, kept working with a warning through 0.2; they go in 0.3, not
before 2027-03-01 (:data:`REMOVED_IN`).

The library moved into rooms by subsystem (see :mod:`hypersiren`); ``import hypersiren.model`` and
``python -m hypersiren.demo`` still work and give the new module, with a ``DeprecationWarning`` that names the new
path. Nothing inside the package imports an old path (a test checks it).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import CodeType, ModuleType

REMOVED_IN = "hypersiren 0.3 (not before 2027-03-01)"

# old module -> where it lives now (a module that was split: where most of its names went; OTHER_HOMES: the rest).
# Every public name a 0.1 module had is importable from its old path (tests/test_layout.py holds it to the list
# of those names, tests/assets/names_0.1.json).
MOVED = {
    "hypersiren.config": "hypersiren.utils.config",
    "hypersiren.seeds": "hypersiren.utils.seeds",
    "hypersiren.extras": "hypersiren.utils.extras",
    "hypersiren.baselines": "hypersiren.siren.baselines",
    "hypersiren.coords": "hypersiren.siren.coords",
    "hypersiren.operators": "hypersiren.siren.operators",
    "hypersiren.derivatives": "hypersiren.siren.derivatives",
    "hypersiren.derivative_layers": "hypersiren.siren.derivative_layers",
    "hypersiren.fused_gradient": "hypersiren.siren.fused_gradient",
    "hypersiren.brush": "hypersiren.masks.brush",
    "hypersiren.perceptual": "hypersiren.metrics.perceptual",
    "hypersiren.signals": "hypersiren.fitting.signals",
    "hypersiren.model": "hypersiren.prior.model",
    "hypersiren.encoder": "hypersiren.prior.encoders",
    "hypersiren.grid_encoder": "hypersiren.prior.grid_encoder",
    "hypersiren.blocks": "hypersiren.prior.blocks",
    "hypersiren.latent": "hypersiren.prior.latent",
    "hypersiren.hypernet": "hypersiren.prior.hypernet",
    "hypersiren.losses": "hypersiren.training.losses",
    "hypersiren.ema": "hypersiren.training.ema",
    "hypersiren.refine": "hypersiren.prior.refine",
    "hypersiren.checkpoints": "hypersiren.prior.checkpoints",
    "hypersiren.pretrained": "hypersiren.prior.pretrained",
    "hypersiren.inpainting": "hypersiren.inpaint.pipeline",
    "hypersiren.picture": "hypersiren.inpaint.picture",
    "hypersiren.classical": "hypersiren.inpaint.classical",
    "hypersiren.demo": "hypersiren.app.demo",
    "hypersiren.scripts": "hypersiren.app.scripts",
    "hypersiren.figures": "hypersiren.app.figures",
    "hypersiren.reports": "hypersiren.app.reports",
    "hypersiren.sources": "hypersiren.app.sources",
}
OTHER_HOMES = {
    "hypersiren.model": ("hypersiren.prior.checkpoints",),
    "hypersiren.demo": ("hypersiren.app.complete_request", "hypersiren.app.page_input"),
    "hypersiren.inpainting": ("hypersiren.inpaint.picture_completion",),
}
# hypersiren.siren, .data, .masks, .metrics, .fitting and .training kept their names: they are rooms now, whose
# __getattr__
# gives the names the old modules had (old_name below).


class _OldPath(ModuleType):
    """What an old path imports as: every name of the module it moved to, and of the modules its other names went."""

    def __init__(self, name: str) -> None:
        super().__init__(name, f"moved to {MOVED[name]} (the old path goes in {REMOVED_IN})")
        self.__homes = (MOVED[name], *OTHER_HOMES.get(name, ()))

    def __getattr__(self, attr: str) -> object:
        for home in self.__homes:
            module = importlib.import_module(home)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} (now {self.__homes[0]}) has no attribute {attr!r}")

    def __dir__(self) -> list[str]:
        return sorted({n for home in self.__homes for n in dir(importlib.import_module(home))})


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import an old path as a view of the module it moved to (and of those its other names went to), warning."""

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001 - importlib's protocol
        if name not in MOVED:
            return None
        spec = importlib.machinery.ModuleSpec(name, self, origin=importlib.util.find_spec(MOVED[name]).origin)
        spec.has_location = True  # python -m gives the code the new module's __file__
        return spec

    def create_module(self, spec) -> ModuleType:  # noqa: ANN001
        warnings.warn(
            f"{spec.name} moved to {MOVED[spec.name]}; the old path goes in {REMOVED_IN}",
            DeprecationWarning,
            stacklevel=2,
        )
        importlib.import_module(MOVED[spec.name])
        return _OldPath(spec.name)

    def exec_module(self, module: ModuleType) -> None:
        pass  # its names are the new modules' (looked up when asked for)

    def get_code(self, name: str) -> CodeType | None:
        """For ``python -m hypersiren.demo``: runpy runs the new module's code."""
        warnings.warn(f"{name} moved to {MOVED[name]}: run python -m {MOVED[name]}", DeprecationWarning, stacklevel=2)
        spec = importlib.util.find_spec(MOVED[name])
        return spec.loader.get_code(MOVED[name])


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())


# the rooms that kept an old module's name, and the modules that now hold that old module's other names
_KEPT_NAMES = {
    "hypersiren.siren": ("hypersiren.siren.network",),
    "hypersiren.data": ("hypersiren.data.images", "hypersiren.data.celeba"),
    "hypersiren.masks": ("hypersiren.masks.kinds", "hypersiren.masks.context", "hypersiren.masks.resample"),
    "hypersiren.metrics": ("hypersiren.metrics.image",),
    "hypersiren.fitting": (
        "hypersiren.fitting.loop",
        "hypersiren.fitting.steps",
        "hypersiren.fitting.objectives",
        "hypersiren.utils.schedules",
    ),
    "hypersiren.training": (
        "hypersiren.training.batches",
        "hypersiren.training.runs",
        "hypersiren.training.validation",
        "hypersiren.utils.schedules",
    ),
}


def old_name(room: str, name: str) -> object:
    """A room's module ``__getattr__``: a name the old flat module had, from the module that holds it now, warning.

    Raises:
        AttributeError: no module of the room defines ``name``.
    """
    for module_name in _KEPT_NAMES.get(room, ()):
        module = importlib.import_module(module_name)
        if not name.startswith("__") and hasattr(module, name):
            warnings.warn(
                f"{room}.{name} is {module_name}.{name} now; the old path goes in {REMOVED_IN}",
                DeprecationWarning,
                stacklevel=3,
            )
            return getattr(module, name)
    raise AttributeError(f"module {room!r} has no attribute {name!r}")
