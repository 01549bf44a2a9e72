"""The classical sampler: completions copied from the training faces nearest on the observed pixels (a baseline).

Scene completion from a photo collection (Hays and Efros, SIGGRAPH 2007), without its seam finding: for each face,
the ``pool`` training faces closest to it over its observed pixels (mean squared difference there), each pasted into
the hole with a colour offset per channel that matches it to the observed ring around the hole (the observed pixels
within ``ring`` pixels of a missing one; every observed pixel when the ring is empty). A draw is one of them in a
random order, so ``K`` draws are ``K`` different real faces; with nothing observed they are random training faces
(and the point forecast, the pool's mean, is the mean of the first ``pool``).
It is what a user could write in ten lines: its draws are real faces that fit the ring only as well as the nearest
face does, which makes it the "what a user could write instead" row beside a learned sampler
(``eval/inpaint.py --method nearest_faces --samples K``).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from hypersiren.data.images import to_model_range


class NearestFaces:
    """Completions from the nearest training faces.

    Args:
        faces: ``(N, C, S, S)`` uint8, the training faces (at the evaluation's side).
        pool: how many nearest faces a face's draws come from.
        ring: the ring's width in pixels (at 32x32 sides; scaled with the side).
    """

    def __init__(self, faces: torch.Tensor, pool: int = 20, ring: int = 2) -> None:
        if faces.ndim != 4 or faces.dtype != torch.uint8:
            raise ValueError(f"faces must be (N, C, S, S) uint8, got {faces.dtype} {tuple(faces.shape)}")
        if not 1 <= pool <= len(faces):
            raise ValueError(f"pool must lie in [1, {len(faces)}] (the training faces), got {pool}")
        self.faces = to_model_range(faces)  # (N, C, S, S)
        self.flat = self.faces.flatten(1)  # (N, C S S)
        self.sq = self.flat.pow(2)
        self.pool, self.ring = pool, ring

    def nearest(self, images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """The ``pool`` nearest faces' completions of each image, nearest first: ``(B, pool, C, S, S)``."""
        if images.shape[1:] != self.faces.shape[1:]:
            raise ValueError(
                f"images must be (B, {', '.join(map(str, self.faces.shape[1:]))}), got "
                f"{tuple(images.shape)}: the training faces' side"
            )
        m = observed.to(images.dtype).expand_as(images).flatten(1)  # (B, D)
        x = (images * observed).flatten(1)
        # sum over observed of (x - f)^2 = sum m x^2 - 2 (m x) . f + m . f^2, for every training face at once
        distance = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.flat.T + m @ self.sq.T) / m.sum(1, keepdim=True).clamp(
            min=1
        )
        index = distance.topk(self.pool, dim=1, largest=False).indices  # (B, pool)
        chosen = self.faces[index]  # (B, pool, C, S, S)
        ring = self._ring(observed)  # (B, 1, S, S)
        weight = ring[:, None].to(images.dtype)  # (B, 1, 1, S, S)
        count = weight.sum((-2, -1)).clamp(min=1)
        offset = ((images[:, None] - chosen) * weight).sum((-2, -1)) / count  # (B, pool, C)
        pasted = (chosen + offset[..., None, None]).clamp(-1, 1)
        return torch.where(observed[:, None], images[:, None], pasted)

    def _ring(self, observed: torch.Tensor) -> torch.Tensor:
        """The observed pixels within ``ring`` (scaled to the side) of a missing one; all observed if there are none."""
        width = max(1, round(self.ring * observed.shape[-1] / 32))
        near = F.max_pool2d((~observed).float(), 2 * width + 1, stride=1, padding=width) > 0
        ring = near & observed
        return torch.where(ring.flatten(1).any(1)[:, None, None, None], ring, observed)

    def sample(
        self, images: torch.Tensor, observed: torch.Tensor, num_samples: int, generators: list[torch.Generator]
    ) -> torch.Tensor:
        """``num_samples`` completions of each image, drawn without replacement from its pool in the order of its
        generator: ``(B, K, C, S, S)``, observed pixels kept."""
        if not 1 <= num_samples <= self.pool:
            raise ValueError(f"num_samples must lie in [1, {self.pool}] (the pool of nearest faces), got {num_samples}")
        if len(generators) != len(images):
            raise ValueError(f"one generator per image: {len(images)} images, {len(generators)} generators")
        pool = self.nearest(images, observed)
        order = torch.stack([torch.randperm(self.pool, generator=g)[:num_samples] for g in generators])  # (B, K)
        drawn = pool[torch.arange(len(images))[:, None], order.to(pool.device)]
        for i in torch.nonzero(~observed.flatten(1).any(1)).flatten().tolist():  # nothing observed: any faces
            drawn[i] = self.faces[torch.randperm(len(self.faces), generator=generators[i])[:num_samples]]
        return drawn

    def inpaint(self, images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """The point forecast: the mean of the pool's completions, ``(B, C, S, S)``."""
        return self.nearest(images, observed).mean(1)
