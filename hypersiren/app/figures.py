"""The figures of the evaluation scripts (matplotlib, the ``[eval]`` / ``[fit]`` extras).

- :func:`inpainting_grid`: ``eval/inpaint.py``'s mosaic: ground truth | observed | inpainted [| refined]
  [| rendered at another resolution], a row per image.
- :func:`samples_grid`: ``eval/inpaint.py --samples``'s: ground truth | observed | mean | samples | their per-pixel
  standard deviation, a row per image; :func:`picture_samples_figure`: ``--image --samples``'s, at the picture's size.
- :func:`fit_figure`: ``eval/fit.py``'s: the ground truth beside every network's fit (and a SIREN's
  derivatives).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from hypersiren.fitting.signals import Signal
from hypersiren.inpaint.pipeline import HOLE_COLOUR
from hypersiren.metrics.image import to_unit
from hypersiren.utils.extras import require


def _pyplot(extra: str):
    """matplotlib's pyplot on the file-only Agg backend (or the error naming the script's extra)."""
    matplotlib = require("matplotlib", extra)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def inpainting_grid(shown: Mapping[str, torch.Tensor], path: str | Path, title: str) -> None:
    """One mosaic (a row per image, a column per stage) drawn with a single matplotlib axes.

    Args:
        shown: :attr:`hypersiren.inpaint.pipeline.Evaluation.shown`: ``truth``, ``context``, ``observed``,
            ``inpainted``, optionally ``refined_inpainted``, ``rendered`` and ``refined_rendered``; images on
            [-1, 1], ``(n, C, S, S)`` (renderings may be larger: every column is upsampled to the largest side).
    """
    plt = _pyplot("eval")
    hole = torch.tensor(HOLE_COLOUR)[:, None, None] / 255
    context = torch.where(shown["observed"], to_unit(shown["context"]), hole)  # the missing pixels coloured
    columns = [
        ("ground truth", to_unit(shown["truth"])),
        ("observed", context),
        ("inpainted", to_unit(shown["inpainted"])),
    ]
    if "refined_inpainted" in shown:
        columns.append(("refined", to_unit(shown["refined_inpainted"])))
    for key, label in (("rendered", "rendered"), ("refined_rendered", "refined, rendered")):
        if key in shown:
            columns.append((f"{label} {shown[key].shape[-1]}px", to_unit(shown[key])))
    _mosaic(plt, columns, path, title)


def samples_grid(shown: Mapping[str, torch.Tensor], path: str | Path, title: str, columns: int = 6) -> None:
    """Several draws of each face beside its mean completion and the draws' per-pixel standard deviation.

    Args:
        shown: :attr:`hypersiren.inpaint.sample_evaluation.SampleEvaluation.shown`.
        columns: at most this many samples per face.
    """
    plt = _pyplot("eval")
    hole = torch.tensor(HOLE_COLOUR)[:, None, None] / 255
    observed = torch.where(shown["observed"], to_unit(shown["truth"]), hole)
    draws = shown["samples"][:, :columns]
    cols = [("ground truth", to_unit(shown["truth"])), ("observed", observed), ("mean", to_unit(shown["mean"]))]
    cols += [(f"sample {i + 1}", to_unit(draws[:, i])) for i in range(draws.shape[1])]
    cols.append((f"std (0 to {UNCERTAINTY_MAX})", uncertainty_colours(shown["uncertainty"][:, 0]).permute(0, 3, 1, 2)))
    _mosaic(plt, cols, path, title)


UNCERTAINTY_MAX = 0.25  # the colour scale of a standard deviation on [0, 1] ends here


def uncertainty_colours(std: torch.Tensor) -> torch.Tensor:
    """Per-pixel standard deviations ``(..., H, W)`` on [0, 1] -> colours ``(..., H, W, 3)`` on [0, 1]: dark blue
    (the samples agree) through purple to red (they disagree by :data:`UNCERTAINTY_MAX` or more)."""
    t = (std.float() / UNCERTAINTY_MAX).clamp(0, 1)
    return torch.stack([t, t.square() * 0.3, 1 - t], -1)


def picture_samples_figure(
    pictures: Mapping[str, np.ndarray], std: np.ndarray, path: str | Path, title: str, width: float = 2.2
) -> None:
    """One picture's completions at its own size and aspect, in a row, with the draws' per-pixel standard deviation.

    Args:
        pictures: label -> ``(H, W, 3)`` uint8 (e.g. the observed picture, the mean completion, each draw).
        std: ``(H, W)`` the draws' standard deviation on [0, 1], shown as :func:`uncertainty_colours`.
        width: inches per picture.
    """
    plt = _pyplot("eval")
    shown = [*pictures.items(), (f"std (0 to {UNCERTAINTY_MAX})", uncertainty_colours(torch.from_numpy(std)).numpy())]
    height, wide = std.shape
    fig, axes = plt.subplots(1, len(shown), figsize=(width * len(shown), width * height / wide + 0.6), squeeze=False)
    for ax, (label, image) in zip(axes[0], shown, strict=True):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(label, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _mosaic(plt, columns: list[tuple[str, torch.Tensor]], path: str | Path, title: str) -> None:
    """Draw labelled columns of ``(n, C, S, S)`` images on [0, 1] as one axes, a row per image."""
    side, pad = max(images.shape[-1] for _, images in columns), 2
    tiles = []
    for _, images in columns:  # nearest upsampling so every column has the same side; grey -> RGB
        images = torch.nn.functional.interpolate(images, size=(side, side), mode="nearest").expand(-1, 3, -1, -1)
        tiles.append(torch.nn.functional.pad(images, (pad, pad, pad, pad), value=1.0))  # (B, 3, side+2p, side+2p)
    rows = torch.cat(tiles, dim=3)  # (B, 3, S, cols * S)
    mosaic = torch.cat(list(rows), dim=1).permute(1, 2, 0).numpy()  # (B * S, cols * S, 3)
    cell = side + 2 * pad
    scale = 1.3 / cell  # inches per pixel: a 32 px tile is 1.3 inches wide whatever --render_size is
    fig = plt.figure(figsize=(mosaic.shape[1] * scale, mosaic.shape[0] * scale + 0.5))
    ax = fig.add_axes((0, 0, 1, mosaic.shape[0] * scale / (mosaic.shape[0] * scale + 0.5)))
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    for j, (label, _) in enumerate(columns):
        fig.text((j + 0.5) / len(columns), 1 - 0.3 / (mosaic.shape[0] * scale + 0.5), label, ha="center", fontsize=8)
    fig.suptitle(title, fontsize=7, y=1 - 0.05 / (mosaic.shape[0] * scale + 0.5), va="top")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _show(ax, points: torch.Tensor, shape: tuple[int, int], title: str, derivative: bool = False) -> None:
    img = points.reshape(*shape, -1).float().cpu().numpy()
    if derivative:  # signed maps diverge around 0; magnitudes are gray; both clipped at the 99th percentile
        lim = float(np.percentile(np.abs(img), 99)) or 1.0
        signed = bool((img < 0).any())
        cmap, vmin = ("RdBu_r", -lim) if signed else ("gray", 0.0)
        ax.imshow(img[..., 0], cmap=cmap, vmin=vmin, vmax=lim)
    elif img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=-1, vmax=1)
    else:
        ax.imshow(((img + 1) / 2).clip(0, 1))
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def fit_figure(
    signal: Signal,
    results: Mapping[str, torch.Tensor],
    titles: Mapping[str, str],
    path: str | Path,
    target: tuple[str, torch.Tensor] | None = None,
    derivatives: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> None:
    """A fitting run's figure: the ground truth beside every network's fit (``eval/fit.py``).

    Args:
        signal: what was fitted (:func:`hypersiren.fitting.signals.load_signal`); images show as pictures, audio as
            waveforms, video as four frames per row.
        results: network name -> its prediction ``(N, C)``; ``titles`` its panel title (e.g. the PSNR).
        target: a Poisson problem's supervision as ``(label, (N, 1))``, shown beside the ground truth.
        derivatives: a SIREN's gradient magnitude and Laplacian ``(N,)``, shown last.
    """
    plt = _pyplot("fit")
    values, archs = signal.values, list(results)
    if signal.kind == "image":
        panels = [("ground truth", values, False)]
        if target is not None:
            panels.append((f"target: {target[0]}", target[1], True))
        panels += [(titles[a], results[a], False) for a in archs]
        if derivatives is not None:
            panels.append(("siren |gradient|", derivatives[0][:, None], True))
            panels.append(("siren laplacian", derivatives[1][:, None], True))
        fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9), squeeze=False)
        for ax, (title, pts, signed) in zip(axes[0], panels, strict=True):
            _show(ax, pts, signal.shape, title, signed)
    elif signal.kind == "audio":
        fig, axes = plt.subplots(len(archs) + 1, 1, figsize=(9, 1.8 * (len(archs) + 1)), sharex=True, squeeze=False)
        t = np.arange(len(values)) / signal.rate
        rows = [("ground truth", values)] + [(titles[a], results[a]) for a in archs]
        for ax, (title, pts) in zip(axes[:, 0], rows, strict=True):
            ax.plot(t, pts[:, 0].cpu().numpy(), lw=0.4)
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(title, fontsize=9)
        axes[-1, 0].set_xlabel("seconds")
    else:
        t, h, w = signal.shape
        shown = sorted({0, t // 3, 2 * t // 3, t - 1})
        rows = [("ground truth", values)] + [(titles[a], results[a]) for a in archs]
        fig, axes = plt.subplots(len(rows), len(shown), figsize=(2.4 * len(shown), 2.4 * len(rows) * h / w + 0.4))
        axes = np.asarray(axes).reshape(len(rows), len(shown))
        for r, (title, pts) in enumerate(rows):
            frames = pts.reshape(t, h * w, -1)
            for k, f in enumerate(shown):
                _show(axes[r, k], frames[f], (h, w), f"{title}, frame {f}" if k == 0 else f"frame {f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
