"""Higher-resolution copies of the training faces, the targets of training off the pixel lattice (ours, after LIIF).

:func:`hires_sources` reads ``hires_data``: one or more data sources (comma-separated), each face matched by CelebA id
where both sides have ids (else by order, checked by :func:`same_faces`) and read at the resolution it really exists
at; :class:`HiresSet` hands a step's faces to :func:`~hypersiren.training.batches.training_batch`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from hypersiren.data.celeba import MissingSplit, all_images, celeba_dataset
from hypersiren.data.images import DataError, to_model_range
from hypersiren.metrics.image import psnr, to_unit
from hypersiren.training.batches import Hires


class HiresSet(NamedTuple):
    """Higher-resolution copies of a split's faces (off-lattice targets), from one or more sources.

    Attributes:
        images: per source ``(M_k, C, s_k, s_k)`` uint8, the faces it holds at its side.
        rows: ``(N, K)`` long, the row of each of the split's ``N`` faces in each source, -1 where it has none.
        names: the sources, as given.
        complete: whether some source holds every face.
    """

    images: tuple[torch.Tensor, ...]
    rows: torch.Tensor
    names: tuple[str, ...]
    complete: bool = False

    def batch(self, index: torch.Tensor) -> Hires | torch.Tensor:
        """The faces ``index`` ``(B,)`` from every source, for :func:`~hypersiren.training.batches.training_batch`: a
        :class:`Hires`, or one tensor ``(B, C, s, s)`` when a single source holds every face (one scale)."""
        rows = self.rows[index]  # (B, K)
        if self.single:
            return self.images[0][rows[:, 0]]
        return Hires(tuple(t[rows[:, k].clamp(min=0)] for k, t in enumerate(self.images)), rows >= 0)

    @property
    def single(self) -> bool:
        """One source that holds every face (decided once, on the host, where the set is built)."""
        return len(self.images) == 1 and self.complete

    def to(self, device: torch.device | str) -> HiresSet:
        return HiresSet(tuple(t.to(device) for t in self.images), self.rows.to(device), self.names, self.complete)

    def whole(self) -> torch.Tensor | None:
        """The first source that holds every face, in the split's order (validation renders at its side), or None."""
        for k, t in enumerate(self.images):
            if bool((self.rows[:, k] >= 0).all()):
                return t[self.rows[:, k]]
        return None

    def describe(self) -> str:
        held = (self.rows >= 0).sum(0).tolist()
        return ", ".join(
            f"{name}: {n} faces at {t.shape[-1]}x{t.shape[-1]}"
            for name, n, t in zip(self.names, held, self.images, strict=True)
        )


def hires_sources(spec: str, split: str, dataset, side: int | None = None, limit: int | None = None) -> HiresSet | None:
    """The faces of ``dataset`` (a :func:`~hypersiren.data.celeba_dataset` of the split) at higher resolutions, from
    the comma-separated data sources of ``spec`` (``hires_data``): each read at ``side``, or at its own side (npz
    arrays; None). Matched by CelebA id where the split and the source both have ids, else by order (the same number
    of faces, checked by :func:`same_faces`). A source without the split is skipped.

    Returns:
        None when no source has the split.

    Raises:
        DataError: a source that cannot be read, holds none of the faces, or (matched by order) other faces.
    """
    images = all_images(dataset)
    by_id = getattr(dataset, "has_ids", False)
    found, rows, names = [], [], []
    for source in (s.strip() for s in spec.split(",") if s.strip()):
        try:
            hires = celeba_dataset(source, split, side, limit=None if by_id else limit)
        except MissingSplit:
            continue
        if by_id and getattr(hires, "has_ids", False):
            position = {int(i): r for r, i in enumerate(hires.ids.tolist())}
            row = torch.tensor([position.get(int(i), -1) for i in dataset.ids.tolist()], dtype=torch.long)
            if not bool((row >= 0).any()):
                raise DataError(
                    f"hires_data {source} {split}: none of its {len(hires)} faces is among the "
                    f"{len(images)} of the data (matched by id)"
                )
            found.append(all_images(hires))
            held = torch.nonzero(row >= 0)[:, 0]
            _check_same(f"hires_data {source} {split}", found[-1][row[held]], images[held], "under the same ids")
        else:
            found.append(same_faces(source, split, side or 2 * images.shape[-1], images, limit))
            row = torch.arange(len(images))
        rows.append(row)
        names.append(source)
    if not found:
        return None
    rows = torch.stack(rows, 1)
    return HiresSet(tuple(found), rows, tuple(names), bool((rows >= 0).all(0).any()))


def same_faces(data: str, split: str, side: int, images: torch.Tensor, limit: int | None = None) -> torch.Tensor:
    """The faces of ``images`` at another ``side``, from the data source ``data`` (e.g. ``data/celeba64`` beside
    ``shared/data/celeba32``): ``(N, C, side, side)`` uint8, checked to be the same faces in the same order.

    Raises:
        DataError: another number of faces, other ids, or faces that do not look like ``images`` (an area
            downsample of each of the first 16 under 20 dB PSNR against its counterpart: another order).
    """
    dataset = celeba_dataset(data, split, side, limit=limit)
    hires = all_images(dataset)
    if len(hires) != len(images):
        raise DataError(f"{data} {split}: {len(hires)} faces, the training data has {len(images)}: not the same faces")
    _check_same(f"{data} {split}", hires, images, "in the same order")
    return hires


def _check_same(name: str, hires: torch.Tensor, images: torch.Tensor, how: str, k: int = 16) -> None:
    """Raise :class:`DataError` unless an area downsample of each of the first ``k`` of ``hires`` is within 20 dB
    PSNR of its counterpart in ``images`` (both ``(N, C, s, s)`` uint8, paired by position)."""
    k = min(k, len(images))
    if not k:
        return
    small = torch.nn.functional.adaptive_avg_pool2d(to_model_range(hires[:k]), images.shape[-2:])
    close = psnr(to_unit(small), to_unit(to_model_range(images[:k])))
    if bool((close < 20).any()):
        bad = int(torch.nonzero(close < 20)[0])
        raise DataError(
            f"{name}: face {bad} does not match the training data's ({close[bad]:.1f} dB between them): "
            f"not the same faces {how}"
        )
