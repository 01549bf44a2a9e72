"""What the evaluation scripts write besides figures: ``metrics.json``, per-item CSV files, printed tables.

Numbers that are not finite are written as ``null`` (JSON has no NaN) and printed as ``n/a``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for a table or a summary line: ``digits`` decimals, ``n/a`` for None."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells (the first is the header) as right-aligned columns."""
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def write_json(values: Mapping[str, Any], path: str | Path) -> None:
    """``values`` as indented JSON (the ``metrics.json`` of a run)."""
    Path(path).write_text(json.dumps(values, indent=2) + "\n")


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """One line per row, the columns those of the first row (e.g. ``per_image.csv``)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
