"""The classical sampler: completions from the training faces nearest on the observed pixels, their colour matched to
the ring around the hole; seeded draws of distinct real faces, observed pixels kept, random faces when nothing is."""

from __future__ import annotations

import pytest
import torch

from hypersiren.inpaint.nearest_faces import NearestFaces


def faces(n: int = 40, side: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    base = torch.rand(n, 3, 1, 1, generator=g) * 200 + torch.linspace(0, 50, side)[None, None, :, None]
    return base.expand(n, 3, side, side).round().clamp(0, 255).to(torch.uint8)


def test_the_nearest_face_is_found_and_matched_to_the_ring():
    train = faces()
    sampler = NearestFaces(train, pool=5)
    target = train[7:8].float() / 127.5 - 1 + 0.1  # face 7, brighter by 0.1 everywhere
    observed = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    observed[..., 4:12, 4:12] = False
    pool = sampler.nearest(target.clamp(-1, 1), observed)
    assert pool.shape == (1, 5, 3, 16, 16)
    torch.testing.assert_close(pool[0, 0], target[0].clamp(-1, 1), atol=1e-5, rtol=0)  # the offset makes it exact
    kept = observed[:, None].expand_as(pool)
    assert torch.equal(pool[kept], target.clamp(-1, 1)[:, None].expand_as(pool)[kept]), "observed pixels kept"


def test_draws_are_seeded_distinct_and_nothing_observed_gives_training_faces():
    train = faces()
    sampler = NearestFaces(train, pool=6)
    images = train[:2].float() / 127.5 - 1
    observed = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1)) < 0.5
    gens = lambda s: [torch.Generator().manual_seed(s + i) for i in range(2)]  # noqa: E731
    a = sampler.sample(images, observed, 4, gens(0))
    assert a.shape == (2, 4, 3, 16, 16) and torch.equal(a, sampler.sample(images, observed, 4, gens(0)))
    assert not torch.equal(a, sampler.sample(images, observed, 4, gens(5)))
    assert all(not torch.equal(a[0, i], a[0, j]) for i in range(4) for j in range(i)), "four different faces"
    nothing = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    new = sampler.sample(images, nothing, 3, gens(0))
    real = train.float() / 127.5 - 1
    assert all(any(torch.equal(new[b, k], f) for f in real) for b in range(2) for k in range(3)), "training faces"
    with pytest.raises(ValueError, match="num_samples"):
        sampler.sample(images, observed, 7, gens(0))
    with pytest.raises(ValueError, match="side"):
        sampler.nearest(torch.zeros(1, 3, 8, 8), torch.ones(1, 1, 8, 8, dtype=torch.bool))
