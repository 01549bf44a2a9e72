"""The house: the rooms import only the rooms their docstrings allow, in the order the package docstring draws,
and the 0.1 module paths still import (with a warning) for one release."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from helpers import ROOT, checkout_env

import hypersiren
from hypersiren._moved import MOVED

PACKAGE = ROOT / "hypersiren"
ROOMS = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())


def allowed(room: str) -> set[str]:
    """The rooms ``room``'s docstring says it may import (``May import: a, b.`` or ``nothing of hypersiren``)."""
    doc = ast.get_docstring(ast.parse((PACKAGE / room / "__init__.py").read_text())) or ""
    found = re.search(r"May import: ([^.]*)\.", doc.replace("\n", " "))
    assert found, f"hypersiren/{room}/__init__.py: its docstring does not say which rooms it may import"
    text = found.group(1).strip()
    return set() if text.startswith("nothing") else {name.strip() for name in text.split(",")}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every ``hypersiren...`` module a file imports (at any depth of the file), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("hypersiren")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hypersiren"):
            base = node.module
            found += (
                [(node.lineno, f"{base}.{a.name}") for a in node.names]
                if base == "hypersiren"
                else [(node.lineno, base)]
            )
    return found


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


def test_every_room_imports_only_what_its_docstring_allows():
    wrong = []
    for room in ROOMS:
        ok = allowed(room) | {room}
        for path in sorted((PACKAGE / room).rglob("*.py")):
            for line, module in imported_modules(path):
                target = room_of(module)
                if target is not None and target not in ok:
                    wrong.append(
                        f"{path.relative_to(ROOT)}:{line} imports {module} (room {target!r}; {room!r} may "
                        f"import {sorted(allowed(room))})"
                    )
    assert not wrong, "imports that run against the layout:\n" + "\n".join(wrong)


def test_the_package_docstring_lists_every_room_above_those_it_imports():
    listed = re.findall(r"^    ([a-z]+) {2,}", hypersiren.__doc__, flags=re.M)
    assert sorted(listed) == ROOMS, f"the package docstring lists {listed}, the rooms are {ROOMS}"
    for i, room in enumerate(listed):
        above = set(listed[i:]) & allowed(room)
        assert not above, f"{room} may import {sorted(above)}, listed at or above it in hypersiren's docstring"


def test_the_layout_test_can_fail(tmp_path):
    """The check above, on a room that imports one it may not: it is named."""
    bad = tmp_path / "bad.py"
    bad.write_text("from hypersiren.prior.model import HyperSiren\n\ndef f():\n    import hypersiren.app.demo\n")
    modules = imported_modules(bad)
    assert [room_of(m) for _, m in modules] == ["prior", "app"]
    assert "prior" not in allowed("siren") and "app" not in allowed("prior")


def test_no_module_of_the_package_uses_an_old_path():
    old = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_moved.py":
            continue
        old += [f"{path.relative_to(ROOT)}:{line} {m}" for line, m in imported_modules(path) if m in MOVED]
    assert not old, "the package imports 0.1 module paths:\n" + "\n".join(old)


NAMES_0_1 = json.loads((ROOT / "tests" / "assets" / "names_0.1.json").read_text())  # every 0.1 module's public names


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_still_imports_with_a_warning(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=re.escape(MOVED[old])):
        module = importlib.import_module(old)
    missing = [name for name in NAMES_0_1[old] if not hasattr(module, name)]
    assert not missing, f"{old} lost {missing}"
    new = importlib.import_module(MOVED[old])
    shared = [name for name in NAMES_0_1[old] if hasattr(new, name)]
    assert shared and all(getattr(module, name) is getattr(new, name) for name in shared), "the same objects"


@pytest.mark.parametrize("room", ["siren", "data", "masks", "metrics", "fitting"])
def test_every_name_of_an_old_module_that_became_a_room_still_imports(room):
    module = importlib.import_module(f"hypersiren.{room}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        missing = [name for name in NAMES_0_1[f"hypersiren.{room}"] if not hasattr(module, name)]
    assert not missing, f"hypersiren.{room} lost {missing}"


OLD_NAMES = [
    ("masks", "on_grid", "hypersiren.masks.kinds"),
    ("data", "center_box", "hypersiren.data.images"),
    ("fitting", "ritz_energy", "hypersiren.fitting.objectives"),
]


@pytest.mark.parametrize(("room", "name", "home"), OLD_NAMES)
def test_a_name_of_an_old_module_that_became_a_room_still_imports(room, name, home):
    with pytest.warns(DeprecationWarning, match=re.escape(f"{home}.{name}")):
        value = getattr(importlib.import_module(f"hypersiren.{room}"), name)
    assert value is getattr(importlib.import_module(home), name)
    with pytest.raises(AttributeError, match="no_such_name"):
        importlib.import_module(f"hypersiren.{room}").no_such_name  # noqa: B018


def test_the_public_face():
    from hypersiren import HyperSiren, HyperSirenConfig, Siren, fit, make_observed  # noqa: F401

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the face itself uses no old path
        importlib.reload(hypersiren)


@pytest.mark.slow
def test_python_m_the_old_demo_path_still_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "hypersiren.demo", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=checkout_env(PYTHONWARNINGS="always"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "hypersiren-demo" in proc.stdout and "hypersiren.app.demo" in proc.stderr
