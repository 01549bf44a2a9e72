"""Probe: how the completion meets a picture at the hole's border, the linear fade against Poisson blending
(:mod:`hypersiren.inpaint.composite`, ``blend=``).

Each 128x128 test face is placed off-centre on a larger canvas (256x192 by default; the background in turn a flat
grey and another face, enlarged and blurred), a rectangle painted white over its mouth, its eyes or its centre
(in turn), and the picture completed through the library's picture path: :func:`hypersiren.inpaint.load_picture`
with the face's own square as the model's frame (``--frame face``, the framing of CelebA's crops without the
detector's noise; ``--frame auto``: the square the picture path picks unaligned, as ``eval/inpaint.py
--no_align``), then :func:`hypersiren.inpaint.complete_picture` once per blend. For each blend (``blend:band``,
the band in pixels beyond the hole that it may change), per face then averaged:

- ``psnr``: over the hole's pixels, against the face as it was (dB, values on [0, 1]);
- ``lpips``: LPIPS (AlexNet) on the hole's bounding box and 8 pixels around it;
- ``seam``: the mean gradient magnitude (forward differences, all channels) on the ring of pixels at the hole's
  border (the hole's pixels beside one outside it, and those outside beside one in it), in the composite over the
  same in the picture as it was; 1 = the border is as sharp as the picture's own there. ``|seam-1|``: its mean
  distance from 1 (a face's sharp seam and another's blurred one do not cancel); ``within``: the share of faces
  whose ``seam`` lies within 20% of 1; ``seam4``: the ratio on the ring 4 pixels deep on either side (it holds the
  linear fade's whole band);
- ``seconds``: per face, the completion and the blend.

``linear:0`` is the completion pasted into the hole as it is. The last line names the blend whose seams lie
nearest the picture's own (the smallest ``|seam-1|``).

``--figure PATH`` draws the docs' figure instead (``docs/composite_seam.png``): matplotlib's public-domain
portrait of Grace Hopper (512x600, ``sample_data/grace_hopper.jpg``) with a 100x50 rectangle over her mouth,
completed by the same model through the aligned picture path (``eval/inpaint.py``'s default ``--align``), each
blend beside the other around the hole, with the seam ratio of each.

    python bench/probes/seamless_composite.py --limit 200
    python bench/probes/seamless_composite.py --figure docs/composite_seam.png
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hypersiren.app.sources import load_model  # noqa: E402
from hypersiren.inpaint import complete_picture, load_picture  # noqa: E402
from hypersiren.inpaint.composite import BLENDS, Frame  # noqa: E402
from hypersiren.metrics.perceptual import load_lpips, lpips_distance  # noqa: E402

FACE = 128
HOLES = {"mouth": (42, 84, 86, 106), "eyes": (30, 54, 98, 76), "centre": (40, 40, 88, 88)}  # (left, top, right, bottom)
MARGIN = 8  # LPIPS: the hole's bounding box and this many pixels around it
TARGET = 0.2  # the seam ratio within this of 1


def canvas(faces: np.ndarray, i: int, width: int, height: int, seed: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Face ``i`` on a ``width x height`` background, off-centre: ``(H, W, 3)`` uint8 and the face's ``(left, top)``."""
    rng = np.random.default_rng([seed, i])
    if i % 2 == 0:
        back = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(60, 200, 3)))
    else:  # another face, enlarged and blurred
        other = Image.fromarray(faces[(i + 1) % len(faces)]).resize((width, height), Image.BILINEAR)
        back = other.filter(ImageFilter.GaussianBlur(6))
    pixels = np.array(back, dtype=np.uint8)
    side = int(rng.integers(0, 2))  # left or right of the centre, never centred
    left = int(rng.integers(4, 33)) if side == 0 else width - FACE - int(rng.integers(4, 33))
    top = int(rng.integers(4, height - FACE - 3))
    pixels[top : top + FACE, left : left + FACE] = faces[i]
    return pixels, (left, top)


def gradient(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` -> ``(H, W)``: the forward differences' magnitude over all channels (0 on the last row/column)."""
    x = image.astype(np.float64)
    dy, dx = np.zeros_like(x), np.zeros_like(x)
    dy[:-1], dx[:, :-1] = x[1:] - x[:-1], x[:, 1:] - x[:, :-1]
    return np.sqrt((dy**2 + dx**2).sum(-1))


def ring(hole: np.ndarray, depth: int) -> np.ndarray:
    """``(H, W)`` bool: the pixels within ``depth`` 4-neighbour steps of the hole's border, on either side."""
    grown_hole, grown_rest = hole, ~hole
    for _ in range(depth):  # each side grown into the other by one step
        grown_hole, grown_rest = _grow(grown_hole), _grow(grown_rest)
    return (grown_hole & ~hole) | (grown_rest & hole)


def _grow(a: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool grown by one 4-neighbour step."""
    out = a.copy()
    out[1:] |= a[:-1]
    out[:-1] |= a[1:]
    out[:, 1:] |= a[:, :-1]
    out[:, :-1] |= a[:, 1:]
    return out


def scores(done: np.ndarray, truth: np.ndarray, hole: np.ndarray, lpips_model) -> dict[str, float]:
    """The probe's scores of one composite ``(H, W, 3)`` uint8 against the picture as it was."""
    error = (done[hole].astype(np.float64) - truth[hole]) / 255
    out = {"psnr": float(-10 * np.log10(max(np.mean(error**2), 1e-12)))}
    rows, cols = np.nonzero(hole)
    top, left = max(0, rows.min() - MARGIN), max(0, cols.min() - MARGIN)
    bottom, right = rows.max() + 1 + MARGIN, cols.max() + 1 + MARGIN

    def crop(a: np.ndarray) -> torch.Tensor:  # (h, w, 3) uint8 -> (1, 3, h, w) on [0, 1]
        return torch.from_numpy(a[top:bottom, left:right].copy()).permute(2, 0, 1)[None].float() / 255

    out["lpips"] = float(lpips_distance(lpips_model, crop(done), crop(truth))[0])
    for key, depth in (("seam", 1), ("seam4", 4)):
        where = ring(hole, depth)
        out[key] = float(gradient(done)[where].mean() / max(gradient(truth)[where].mean(), 1e-9))
    return out


def variants(specs: Sequence[str]) -> list[tuple[str, int]]:
    """``blend:band`` strings -> ``(blend, band)``."""
    out = []
    for spec in specs:
        blend, _, band = spec.partition(":")
        if blend not in BLENDS or not band.isdigit():
            raise ValueError(f"a variant is blend:band with blend one of {BLENDS} and band >= 0, got {spec!r}")
        out.append((blend, int(band)))
    return out


def main(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Run the probe; returns each variant's mean scores."""
    torch.set_num_threads(args.threads)
    model, name = load_model(args.model)
    if args.figure is not None:
        seams = figure(model, name, Path(args.figure), variants(args.figure_variants))
        print(
            f"wrote {args.figure}: the portrait's mouth, seam ratio "
            + ", ".join(f"{k} {v:.2f}" for k, v in seams.items())
        )
        return {k: {"seam": v} for k, v in seams.items()}
    faces = np.load(args.data)["images"][: args.limit]  # (N, 128, 128, 3) uint8
    if faces.shape[1:] != (FACE, FACE, 3):
        raise ValueError(f"{args.data}: expected (N, {FACE}, {FACE}, 3) faces, got {faces.shape}")
    lpips_model = load_lpips(args.lpips_weights)
    chosen = variants(args.variants)
    width, height = args.canvas
    per_face: dict[str, list[dict[str, float]]] = {f"{b}:{w}": [] for b, w in chosen}
    for i in tqdm(range(len(faces)), desc="faces", unit="face"):
        truth, (left, top) = canvas(faces, i, width, height, args.seed)
        kind = list(HOLES)[i % len(HOLES)]
        x0, y0, x1, y1 = HOLES[kind]
        hole = np.zeros((height, width), bool)
        hole[top + y0 : top + y1, left + x0 : left + x1] = True
        painted = np.where(hole[..., None], np.uint8(255), truth)
        frame = Frame.from_box((left, top, left + FACE, top + FACE)) if args.frame == "face" else None
        picture = load_picture(painted, model.config.image_size, hole, frame=frame)
        for blend, band in chosen:
            t = time.perf_counter()
            done = complete_picture(model, picture, render_size=model.config.image_size, band=band, blend=blend)
            seconds = time.perf_counter() - t
            if not np.array_equal(done.picture[~_near(hole, band)], truth[~_near(hole, band)]):
                raise AssertionError(f"{blend}:{band} changed a pixel beyond its band")
            per_face[f"{blend}:{band}"].append({**scores(done.picture, truth, hole, lpips_model), "seconds": seconds})
    result = {}
    lpips_name = "AlexNet" if lpips_model is not None else "unavailable"
    print(
        f"{len(faces)} faces of {args.data} on {width}x{height} canvases ({', '.join(HOLES)} holes in turn), "
        f"frame: {args.frame}; model: {name}; LPIPS: {lpips_name}"
    )
    header = ("blend:band", "psnr dB", "lpips", "seam", "|seam-1|", "within", "seam4", "s/face")
    print(f"{header[0]:<12}" + "".join(f"{h:>10}" for h in header[1:]))
    for key, rows in per_face.items():
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        mean["off"] = float(np.mean([abs(r["seam"] - 1) for r in rows]))
        mean["within"] = float(np.mean([abs(r["seam"] - 1) <= TARGET for r in rows]))
        result[key] = mean
        print(
            f"{key:<12}{mean['psnr']:>10.2f}{mean['lpips']:>10.4f}{mean['seam']:>10.3f}{mean['off']:>10.3f}"
            f"{mean['within']:>10.0%}{mean['seam4']:>10.3f}{mean['seconds']:>10.3f}"
        )
    best = min(result, key=lambda k: result[k]["off"])
    others = "; ".join(f"{k} {v['off']:.3f}" for k, v in result.items() if k != best)
    print(
        f"seamless composite on {len(faces)} faces ({name}): {best} has the seam nearest the picture's own "
        f"(|ratio - 1| {result[best]['off']:.3f}, {result[best]['within']:.0%} of faces within {TARGET:.0%}; PSNR "
        f"{result[best]['psnr']:.2f} dB, LPIPS {result[best]['lpips']:.4f}); others: {others}"
    )
    return result


def _near(hole: np.ndarray, band: int) -> np.ndarray:
    """The pixels within ``band`` (Euclidean) of the hole: a blend may change these and no others."""
    h, w = hole.shape
    rows, cols = np.nonzero(hole)
    near = hole.copy()
    for dy in range(-band, band + 1):
        for dx in range(-band, band + 1):
            if dy * dy + dx * dx <= band * band:
                near[np.clip(rows + dy, 0, h - 1), np.clip(cols + dx, 0, w - 1)] = True
    return near


PORTRAIT_HOLE = (210, 250, 310, 300)  # (left, top, right, bottom): her mouth in the 512x600 portrait
SHOWN = 40  # the figure: the hole and this many pixels around it


def figure(model, name: str, path: Path, chosen: Sequence[tuple[str, int]]) -> dict[str, float]:
    """The portrait's mouth completed with each blend, drawn side by side; returns each blend's seam ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = np.array(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB"))
    left, top, right, bottom = PORTRAIT_HOLE
    hole = np.zeros(truth.shape[:2], bool)
    hole[top:bottom, left:right] = True
    painted = np.where(hole[..., None], np.uint8(255), truth)
    # the face is found as eval/inpaint.py finds it (the picture as given, its mask apart), the model then sees the
    # painted picture in that frame: nothing of the hole can reach the completion
    frame = load_picture(truth, model.config.image_size, hole, align=True).frame
    picture = load_picture(painted, model.config.image_size, hole, frame=frame)
    shown = {"the portrait": truth, "the hole": painted}
    seams = {}
    for blend, band in chosen:
        done = complete_picture(model, picture, render_size=model.config.image_size, band=band, blend=blend).picture
        seams[f"{blend}:{band}"] = scores(done, truth, hole, None)["seam"]
        shown[f"{blend}, band {band}: seam {seams[f'{blend}:{band}']:.2f}"] = done
    y0, y1 = max(0, top - SHOWN), min(truth.shape[0], bottom + SHOWN)
    x0, x1 = max(0, left - SHOWN), min(truth.shape[1], right + SHOWN)
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.2 * (y1 - y0) / (x1 - x0) + 0.5))
    for ax, (title, image) in zip(axes, shown.items(), strict=True):
        ax.imshow(image[y0:y1, x0:x1], interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"{name}; the model's square: {frame.kind}, {frame.side:.0f} pixels", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return seams


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="celeba64", help="a shipped prior's name or a model folder (default celeba64)")
    p.add_argument("--data", default="data/celeba128/test.npz", help="decoded 128x128 faces: images (N, 128, 128, 3)")
    p.add_argument("--limit", type=int, default=200, help="only the first N faces (default 200)")
    p.add_argument("--canvas", type=int, nargs=2, default=(256, 192), metavar=("WIDTH", "HEIGHT"))
    p.add_argument(
        "--frame",
        default="face",
        choices=("face", "auto"),
        help="the model's square: the face's own (default) or the picture path's unaligned one",
    )
    p.add_argument(
        "--variants",
        nargs="+",
        default=["linear:0", "linear:3", "poisson:0", "poisson:3"],
        help="blend:band ... (default: linear:0 linear:3 poisson:0 poisson:3)",
    )
    p.add_argument("--lpips_weights", default=None, help="an AlexNet .npz/.pth (default: the bundled weights)")
    p.add_argument("--seed", type=int, default=0, help="seeds the canvases")
    p.add_argument("--figure", default=None, help="draw the portrait's figure at this path instead of the faces")
    p.add_argument("--figure_variants", nargs="+", default=["linear:3", "poisson:3"], help="the figure's blends")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    if args.limit < 1 or min(args.canvas) < FACE + 8:
        p.error(f"--limit must be positive and the canvas at least {FACE + 8} on each side")
    try:
        variants(args.variants + args.figure_variants)
    except ValueError as err:
        p.error(str(err))
    return args


if __name__ == "__main__":
    main(parse_args())
