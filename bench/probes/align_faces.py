"""Probe: faces framed as CelebA's before the completion (:mod:`hypersiren.inpaint.align`), calibrated and measured.

``calibrate``: runs :func:`hypersiren.inpaint.align.detect` on CelebA's aligned training faces (the 89x109 JPEG
pack of ``shared/data/celeba32``, CelebA ids 1..10000, upsampled bicubic to the originals' 178x218) and prints the
medians of the face box and of the eyes in that frame: the constants :data:`~hypersiren.inpaint.align.CELEBA_EYES`
and :data:`~hypersiren.inpaint.align.CELEBA_FACE`.

``measure``: test faces (``data/celeba64/test.npz``: the protocol's 178x178 squares at 64x64, official test ids,
identities not seen in training) upsampled bicubic to a random side in ``--face_sides``, pasted at a random place
(off-centre) on a ``--canvas`` picture of blurred noise, the hole a box over the face's mouth and nose (``--hole``:
``mouth`` rows 0.55..0.85, columns 0.3..0.7 of the face's square; ``centre``: its centred half). Each picture is
completed at its own size (:func:`hypersiren.inpaint.picture_completion.complete_picture`) from the square chosen
without
alignment (the centred square, or the square around the hole where the centred one does not hold it) and with it
(the eyes, else the face box; pictures whose face is not found keep their unaligned result, as the pipeline
does); the PSNR over the hole is against the face itself, on the picture's own pixels. Also reported: the same
faces' hole PSNR on the model's own grid when given aligned, as in the test split (the upper bound alignment aims
at), and the error of the aligned square against where the face was pasted.

    python bench/probes/align_faces.py calibrate --limit 3000
    python bench/probes/align_faces.py measure --limit 300                  # celeba32, mouth hole
    python bench/probes/align_faces.py measure --limit 300 --hole centre --model celeba64

Nothing is written to the repository (CelebA must not be committed). The last line is the result.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from hypersiren import HyperSiren  # noqa: E402
from hypersiren.inpaint import align  # noqa: E402
from hypersiren.inpaint.picture import load_picture  # noqa: E402
from hypersiren.inpaint.picture_completion import complete_picture  # noqa: E402
from hypersiren.metrics.image import psnr  # noqa: E402

PACK = ROOT.parent / "shared" / "data" / "celeba32" / "celeba_align_src89x109_jpeg.npz"
HOLES = {"mouth": (0.55, 0.85, 0.3, 0.7), "centre": (0.25, 0.75, 0.25, 0.75)}  # rows, columns of the face square


def calibrate(args: argparse.Namespace) -> None:
    pack = np.load(args.pack)
    jpegs, offsets = pack["jpeg_bytes"], pack["offsets"]
    boxes, eyes, t0 = [], [], time.perf_counter()
    n = min(args.limit, len(offsets) - 1)
    for i in range(n):
        face = Image.open(io.BytesIO(jpegs[offsets[i] : offsets[i + 1]].tobytes())).convert("RGB")
        found = align.detect(np.asarray(face.resize((178, 218), Image.BICUBIC)))
        if found is None:
            continue
        boxes.append(found.box)
        if found.eyes is not None:
            eyes.append(np.ravel(found.eyes))
    boxes, eyes = np.asarray(boxes), np.asarray(eyes)
    print(
        f"{n} aligned training faces (ids {pack['ids'][0]}..{pack['ids'][n - 1]}, 89x109 -> 178x218) in "
        f"{time.perf_counter() - t0:.0f} s: a face in {len(boxes)} ({len(boxes) / n:.1%}), both eyes in "
        f"{len(eyes)} ({len(eyes) / n:.1%})"
    )
    bm, bs = np.median(boxes, 0), boxes.std(0)
    em, es = np.median(eyes, 0), eyes.std(0)
    print(f"face box centre ({bm[0]:.1f}, {bm[1]:.1f}), side {bm[2]:.1f} (std {bs[0]:.1f}, {bs[1]:.1f}, {bs[2]:.1f})")
    print(f"eyes ({em[0]:.1f}, {em[1]:.1f}), ({em[2]:.1f}, {em[3]:.1f}) (std {', '.join(f'{v:.1f}' for v in es)})")
    print(f"CELEBA_EYES = (({em[0]:.1f}, {em[1]:.1f}), ({em[2]:.1f}, {em[3]:.1f}))")
    print(f"CELEBA_FACE = ({bm[0]:.1f}, {bm[1]:.1f}, {bm[2]:.1f})")


def _canvas(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    noise = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return Image.fromarray(noise).resize((width, height), Image.BICUBIC).filter(ImageFilter.GaussianBlur(6))


def _hole_psnr(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    r = torch.from_numpy(result.copy()).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
    t = torch.from_numpy(truth.copy()).permute(2, 0, 1)[None].float() / 255
    return psnr(r, t, torch.from_numpy(hole)[None, None]).item()


def _place(rng, face: np.ndarray, side: int, turn: float, hole_box, width: int, height: int):
    """The face at ``side`` pixels, turned ``turn`` degrees (counter-clockwise), at a random place on a canvas.

    Returns:
        the picture ``(H, W, 3)`` uint8, the hole ``(H, W)`` bool, and the face square's centre.
    """
    r0, r1, c0, c1 = hole_box
    image = Image.fromarray(face).resize((side, side), Image.BICUBIC)
    marks = np.zeros((side, side), np.uint8)
    marks[round(r0 * side) : round(r1 * side), round(c0 * side) : round(c1 * side)] = 255
    marks, opaque = Image.fromarray(marks), Image.new("L", (side, side), 255)
    if turn:
        image, marks, opaque = (
            im.rotate(turn, resample=Image.BICUBIC if im is image else Image.NEAREST, expand=True)
            for im in (image, marks, opaque)
        )
    w, h = image.size
    x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    picture = _canvas(rng, width, height)
    picture.paste(image, (x, y), opaque)
    hole = Image.new("L", (width, height), 0)
    hole.paste(marks, (x, y))
    return np.array(picture), np.asarray(hole) >= 128, (x + w / 2, y + h / 2)


def measure(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    model = HyperSiren.from_pretrained(args.model).eval()
    size = model.config.image_size
    faces = np.load(args.data)["images"][: args.limit]  # (N, 64, 64, 3)
    rng = np.random.default_rng(args.seed)
    width, height = args.canvas
    ways = ("box", "eyes", "both")
    rows = {name: np.full(len(faces), np.nan) for name in ("unaligned", "aligned", *ways, "given aligned")}
    kinds, offsets, t0 = {"centre": 0, "hole": 0}, [], time.perf_counter()
    for i, face in enumerate(faces):
        side = int(rng.integers(args.face_sides[0], args.face_sides[1] + 1))
        turn = float(rng.uniform(-args.max_turn, args.max_turn)) if args.max_turn else 0.0
        truth, hole, (fx, fy) = _place(rng, face, side, turn, HOLES[args.hole], width, height)
        plain = load_picture(truth, size, hole)
        kinds[plain.frame.kind] += 1
        rows["unaligned"][i] = _hole_psnr(complete_picture(model, plain, render_size=size).picture, truth, hole)
        aligned = load_picture(truth, size, hole, align=True)  # the pipeline's own path
        kinds[f"aligned {aligned.frame.kind}"] = kinds.get(f"aligned {aligned.frame.kind}", 0) + 1
        rows["aligned"][i] = _hole_psnr(complete_picture(model, aligned, render_size=size).picture, truth, hole)
        found = align.detect(truth)
        if found is not None:
            for way in ways:
                if way != "box" and found.eyes is None:
                    continue
                frame = align.frame(found, way)
                if not frame.contains(*np.nonzero(hole)).all():  # as the pipeline: then the picture goes unaligned
                    rows[way][i] = rows["unaligned"][i]
                    continue
                done = complete_picture(model, load_picture(truth, size, hole, frame=frame), render_size=size)
                rows[way][i] = _hole_psnr(done.picture, truth, hole)
            f = align.frame(found)
            offsets.append(
                [(f.centre[0] - fx) / side, (f.centre[1] - fy) / side, f.side / side - 1, np.degrees(f.angle) + turn]
            )
        # the same face as the test split gives it: its own square, upright, resized to the model's side
        _, own_hole, _ = _place(np.random.default_rng(0), face, 64, 0.0, HOLES[args.hole], 64, 64)
        done = complete_picture(model, load_picture(face, size, own_hole), render_size=size)
        own = torch.from_numpy(np.asarray(Image.fromarray(face).resize((size, size), Image.BILINEAR)).copy())
        rows["given aligned"][i] = psnr(
            (done.completed + 1) / 2, own.permute(2, 0, 1)[None] / 255, ~done.observed
        ).item()
    n, seconds = len(faces), time.perf_counter() - t0
    found, eyes = ~np.isnan(rows["box"]), ~np.isnan(rows["eyes"])
    used = kinds.get("aligned face", 0)
    print(
        f"{args.model}, {n} test faces (data/celeba64/test.npz) at {args.face_sides[0]}..{args.face_sides[1]} px, "
        f"turned up to {args.max_turn:g} degrees, on a {width}x{height} canvas of blurred noise, {args.hole} hole, "
        f"seed {args.seed}, {seconds:.0f} s; the unaligned square: the centred one {kinds['centre']}, around the "
        f"hole {kinds['hole']}; with alignment the face's square for {used}"
    )
    print(
        f"  hole PSNR (dB) over all {n}: unaligned {np.mean(rows['unaligned']):.2f}, aligned (the pipeline) "
        f"{np.mean(rows['aligned']):.2f}, the faces given aligned {np.mean(rows['given aligned']):.2f}"
    )
    print(
        f"  the {found.sum()} with a face: unaligned {np.mean(rows['unaligned'][found]):.2f}, by the face box "
        f"{np.mean(rows['box'][found]):.2f}"
    )
    if eyes.any():
        print(
            f"  the {eyes.sum()} with both eyes: unaligned {np.mean(rows['unaligned'][eyes]):.2f}, by the face box "
            f"{np.mean(rows['box'][eyes]):.2f}, by the eyes {np.mean(rows['eyes'][eyes]):.2f}, by both "
            f"{np.mean(rows['both'][eyes]):.2f}"
        )
    if offsets:
        o = np.abs(np.asarray(offsets))
        print(
            f"  the aligned square (both) against the pasted face's square (medians): centre off by "
            f"{np.median(o[:, 0]):.3f}, {np.median(o[:, 1]):.3f} of the side, side off by {np.median(o[:, 2]):.3f}, "
            f"angle off by {np.median(o[:, 3]):.1f} degrees"
        )
    print(
        f"hole PSNR over {n} faces placed off-centre: unaligned {np.mean(rows['unaligned']):.2f} dB, aligned "
        f"{np.mean(rows['aligned']):.2f} dB (a face found in {found.sum()}, both eyes in {eyes.sum()}, the face's "
        f"square used for {used}); the same faces given aligned {np.mean(rows['given aligned']):.2f} dB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cal = sub.add_parser("calibrate", help="the detector on CelebA's aligned training faces")
    cal.add_argument("--pack", type=Path, default=PACK, help="the 89x109 JPEG pack")
    cal.add_argument("--limit", type=int, default=3000, help="faces (default 3000)")
    mea = sub.add_parser("measure", help="hole PSNR with and without alignment on faces pasted on a canvas")
    mea.add_argument("--model", default="celeba32", help="a shipped prior, a folder or a Hub id")
    mea.add_argument("--data", type=Path, default=ROOT / "data" / "celeba64" / "test.npz", help="64x64 test faces")
    mea.add_argument("--limit", type=int, default=300, help="faces (default 300)")
    mea.add_argument("--canvas", type=int, nargs=2, default=(400, 300), help="width height (default 400 300)")
    mea.add_argument("--face_sides", type=int, nargs=2, default=(120, 200), help="face square side range")
    mea.add_argument("--hole", choices=sorted(HOLES), default="mouth")
    mea.add_argument("--max_turn", type=float, default=0.0, help="turn each face by up to this many degrees")
    mea.add_argument("--seed", type=int, default=0)
    mea.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    calibrate(args) if args.command == "calibrate" else measure(args)
