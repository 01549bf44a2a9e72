"""What the evaluation scripts write besides figures: ``metrics.json``, per-item CSV files, printed tables.

Numbers that are not finite are written as ``null`` (JSON has no NaN) and printed as ``n/a``. For
``eval/inpaint.py``: :func:`summarize` (the means of :func:`hypersiren.inpaint.pipeline.evaluate`'s per-image
metrics), :func:`table` (beside the paper's numbers), :func:`csv_rows` (``per_image.csv``).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from hypersiren.inpaint.pipeline import PAPER


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for a table or a summary line: ``digits`` decimals, ``n/a`` for None."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_table(rows: Sequence[Sequence[str]]) -> str:
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


def mean(values: torch.Tensor) -> float | None:
    """The mean over the finite values; None when there is none (JSON has no NaN or infinity)."""
    finite = values[~torch.isnan(values)]
    value = finite.double().mean().item() if len(finite) else math.nan
    return value if math.isfinite(value) else None


def summarize(per_image: dict[str, torch.Tensor]) -> dict:
    """Means of :func:`evaluate`'s per-image metrics, the refined ones under ``"refined"``."""
    out = {name: mean(v) for name, v in per_image.items() if not name.startswith("refined_")}
    refined = {name.removeprefix("refined_"): mean(v) for name, v in per_image.items() if name.startswith("refined_")}
    return {**out, "refined": refined} if refined else out


def csv_rows(key: str, num_observed: torch.Tensor, per_image: dict[str, torch.Tensor]) -> list[dict]:
    """``per_image.csv``'s lines of one setting: the observed pixel count and every metric of each image."""
    columns = {"num_observed": num_observed.tolist(), **{n: v.tolist() for n, v in per_image.items()}}
    return [
        {"setting": key, "index": i, **{n: f"{v[i]:.6g}" for n, v in columns.items()}} for i in range(len(num_observed))
    ]


def table(results: dict, keys: list[str], refined: bool = False, paper: bool = False) -> str:
    """The printed table of :func:`summarize`'d settings: a row per setting, with the paper's numbers if asked."""
    header = ["setting", "MSE", "PSNR", "MSE miss", "PSNR miss", "SSIM", "LPIPS"]
    header += ["MSE ref", "PSNR miss ref"] * refined + list(PAPER["10"]) * paper
    rows = [header]
    for key in keys:
        r = results[key]
        row = [
            key,
            fmt(r["mse"]),
            fmt(r["psnr"], 2),
            fmt(r["mse_missing"]),
            fmt(r["psnr_missing"], 2),
            fmt(r["ssim"], 3),
            fmt(r["lpips"], 3),
        ]
        if refined:
            row += [fmt(r["refined"]["mse"]), fmt(r["refined"]["psnr_missing"], 2)]
        if paper:
            row += [fmt(PAPER.get(key, {}).get(name), 3) for name in PAPER["10"]]
        rows.append(row)
    return format_table(rows)


def hires_table(results: dict, keys: list[str], side: int) -> str:
    """The renderings at the larger side against the real faces there, beside bicubic upsampling (PSNR, dB)."""
    rows = [["setting", f"{side}: all", "bicubic", "hole", "bicubic", "ring", "bicubic"]]
    for key in keys:
        r = results[key]
        rows.append(
            [key, *(fmt(r.get(f"{p}hires_psnr{s}"), 2) for s in ("", "_missing", "_ring") for p in ("", "bicubic_"))]
        )
    return format_table(rows)


def samples_table(results: dict, keys: list[str], k: int) -> str:
    """``--samples``: the sampler's scores over the hole beside the mean completion's, a row per setting."""
    rows = [
        [
            "setting",
            "PSNR sample",
            f"best of {k}",
            "mean of samples",
            "mean completion",
            "CRPS / MAE",
            "coverage",
            "diversity",
            "FD samples",
            "FD mean",
        ]
    ]
    for key in keys:
        r = results[key].get("samples", {})
        digits = {"crps_over_mae": 3, "coverage": 3, "diversity": 3, "frechet_samples": 1, "frechet_mean": 1}
        names = (
            "sample_psnr",
            "best_of_k_psnr",
            "samples_mean_psnr",
            "mean_psnr",
            "crps_over_mae",
            "coverage",
            "diversity",
            "frechet_samples",
            "frechet_mean",
        )
        rows.append([key, *(fmt(r.get(n), digits.get(n, 2)) for n in names)])
    return format_table(rows)
