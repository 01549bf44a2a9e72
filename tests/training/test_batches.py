"""A training step's batch: off-lattice points between pixel centres with the hires face's values as targets, their
scales reaching the SIREN through the cell shift, and nothing changed without them."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from hypersiren import HyperSiren, HyperSirenConfig
from hypersiren.siren import grid
from hypersiren.training.batches import offgrid_targets, pixel_of, training_batch


def recipe(**kw) -> SimpleNamespace:
    base = dict(
        seed=0,
        hflip=False,
        context_min=10,
        context_max=200,
        context_sampling="exact",
        context_log_uniform=False,
        hole_prob=0.25,
        context_dense_prob=0.0,
        context_empty_prob=0.0,
        render_pixels=64,
        offgrid_points=0,
        offgrid_targets="bilinear",
    )
    return SimpleNamespace(**{**base, **kw})


def linear_faces(b: int, side: int) -> torch.Tensor:
    """uint8 faces whose values are a linear function of the position: 127.5 + 100 y + 20 x (y, x at pixel centres)."""
    yx = grid(side, side, align_corners=False).view(side, side, 2)
    value = 127.5 + 100 * yx[..., 0] + 20 * yx[..., 1]
    return value.round().to(torch.uint8).expand(b, 3, side, side).clone()


@pytest.mark.parametrize("mode", ["bilinear", "pixels"])
def test_offgrid_targets_are_the_hires_values_at_the_points(mode):
    """On a face that is a linear function of the position the bilinear reading is exact: the targets are the
    function at the points, which lie between the 16x16 model's pixel centres."""
    yx = grid(32, 32, align_corners=False).T.view(2, 32, 32)
    hires = (0.8 * yx[0] + 0.2 * yx[1]).expand(2, 3, 32, 32)  # a known function of the position, not rounded
    points, values = offgrid_targets(hires, 500, mode, torch.Generator().manual_seed(0))
    assert points.shape == (500, 2) and values.shape == (2, 3, 500)
    inside = (points.abs() <= 31 / 32).all(1)  # within the outermost centres, where bilinear reading is exact
    err = (values[0, 0] - (0.8 * points[:, 0] + 0.2 * points[:, 1]))[inside].abs().max()
    assert err < 1e-6, f"targets off the function by {err:.2e}"
    model_centres = grid(16, 16, align_corners=False)
    off = torch.cdist(points, model_centres).min(1).values
    if mode == "bilinear":
        assert (off > 1e-3).float().mean() > 0.99, "points are drawn anywhere, not on the model's lattice"
    else:
        assert torch.allclose(off, torch.full_like(off, (2 * (1 / 32) ** 2) ** 0.5)), "hires centres sit between"


def test_training_batch_without_offgrid_points_is_the_lattice_subset():
    images = linear_faces(4, 16)
    batch = training_batch(recipe(), 7, 0, images)
    assert batch.points is None and batch.pixels.shape == (64,)
    assert torch.equal(batch.target, (images.float() / 127.5 - 1).flatten(2)[..., batch.pixels])
    again = training_batch(recipe(), 7, 0, images)
    assert torch.equal(again.observed, batch.observed) and torch.equal(again.pixels, batch.pixels), "seeded"


def test_training_batch_with_offgrid_points_from_hires_faces():
    images, hires = linear_faces(4, 16), linear_faces(4, 32)
    batch = training_batch(recipe(offgrid_points=100, hflip=True), 3, 0, images, hires)
    assert batch.points.shape == (164, 2) and batch.target.shape == (4, 3, 164) and batch.seen.shape == (4, 1, 164)
    assert batch.point_scales[:64].eq(0).all() and batch.point_scales[64:].eq(1).all(), "log2(32 / 16) off the lattice"
    lattice = torch.cdist(batch.points[:64], grid(16, 16, align_corners=False)).min(1).values
    assert batch.pixels is None and lattice.max() < 1e-6, "the render_pixels subset comes first, at pixel centres"
    # a point's `seen` is the observed flag of the model pixel it falls in
    index = pixel_of(batch.points[64:], 16, 16)
    assert torch.equal(batch.seen[:, :, 64:], batch.observed.flatten(2)[..., index])


def test_the_cell_shift_reaches_the_siren_and_starts_at_zero():
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(encoder="grid", hypernet="grid", image_size=16, cell_input=True))
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    observed = torch.rand(2, 1, 16, 16) < 0.5
    points = torch.rand(50, 2) * 2 - 1
    same = [model(images, observed, points=points, point_scales=s).images for s in (0.0, 1.0)]
    assert torch.equal(same[0], same[1]), "zero-initialised: the cell changes nothing until trained"
    with torch.no_grad():
        model.hypernet.cell.weight.normal_()
    out = model(images, observed, points=points, point_scales=torch.ones(50))
    out.images.sum().backward()
    assert model.hypernet.cell.weight.grad.abs().sum() > 0, "the scale reaches the SIREN"
    with torch.no_grad():
        at0 = model(images, observed, points=points, point_scales=0.0).images
        at_big = model(images, observed, points=points, point_scales=5.0).images  # clamped to cell_max_scale 1
    assert not torch.allclose(at0, out.images.detach(), atol=1e-3)  # (the no-grad calls render fused: float rounding)
    torch.testing.assert_close(at_big, out.images.detach(), rtol=0, atol=2e-5)
    with torch.no_grad():  # a grid rendering at twice the side uses scale 1
        gen = model.generate(model.encode(images, observed))
        twice = model.decode(gen, 32, 32).flatten(2)
        by_points = model.decode_points(gen, grid(32, 32, align_corners=False), scale=1.0)
    torch.testing.assert_close(twice, by_points, rtol=0, atol=1e-5)


def test_faces_from_several_sources_read_each_at_its_own_side():
    """Two sources of different sides (32 and 24 for 16x16 faces): each face reads the targets of the source that
    holds it (a face held by both draws one per step), with that source's scale; a face held by none reads its own
    lattice at scale 0. On faces linear in the position every reading is the function at the points."""
    from hypersiren.training.batches import Hires

    images = linear_faces(4, 16)
    held = torch.tensor([[True, False], [False, True], [True, True], [False, False]])
    hires = Hires((linear_faces(4, 32), linear_faces(4, 24)), held)
    batch = training_batch(recipe(offgrid_points=300), 3, 0, images, hires)
    assert batch.point_scales.shape == (4, 64 + 300) and batch.point_scales[:, :64].eq(0).all()
    scales = batch.point_scales[:, 64:]
    lo = torch.tensor(math.log2(24 / 16))  # float32, as the scales
    assert scales[0].eq(1).all() and scales[1].eq(lo).all() and scales[3].eq(0).all()
    assert scales[2, 0].eq(1) or scales[2, 0].eq(lo), "a face held by both reads one of them"
    points = batch.points[64:]
    inside = (points.abs() <= 15 / 16).all(1)  # within every source's outermost centres
    expected = (127.5 + 100 * points[:, 0] + 20 * points[:, 1]) / 127.5 - 1
    err = (batch.target[:, 0, 64:] - expected)[:, inside].abs().max()
    assert err < 0.02, f"targets off the function by {err:.3f} (uint8 rounding allows 0.008)"
    picks = {
        round(float(training_batch(recipe(offgrid_points=8), s, 0, images, hires).point_scales[2, -1]), 4)
        for s in range(20)
    }
    assert picks == {1.0, round(math.log2(24 / 16), 4)}, "the source of a face held by two is drawn per step"
    with pytest.raises(ValueError, match="bilinear"):
        training_batch(recipe(offgrid_points=8, offgrid_targets="pixels"), 3, 0, images, hires)


def test_hires_sources_match_faces_by_id_and_skip_a_source_without_the_split(tmp_path):
    """hires_data lists sources; each face is matched by CelebA id, a source without the split is skipped, a source
    whose faces under the same ids are other faces is refused, and a face no source holds has row -1."""
    import numpy as np
    from helpers import smooth_faces

    from hypersiren.data import celeba_dataset
    from hypersiren.data.images import DataError
    from hypersiren.training.hires import hires_sources

    faces = smooth_faces(6, 32, seed=3)  # (6, 32, 32, 3) uint8, six different faces
    small = torch.nn.functional.avg_pool2d(torch.from_numpy(faces).permute(0, 3, 1, 2).float(), 2).round()
    (tmp_path / "lo").mkdir(), (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    np.savez(
        tmp_path / "lo" / "train.npz",
        images=small.permute(0, 2, 3, 1).numpy().astype(np.uint8),
        ids=np.arange(10, 16, dtype=np.int32),
    )
    np.savez(tmp_path / "a" / "train.npz", images=faces[[4, 0, 2]], ids=np.array([14, 10, 12], dtype=np.int32))
    np.savez(tmp_path / "a" / "val.npz", images=faces[:1], ids=np.array([99], dtype=np.int32))
    np.savez(tmp_path / "b" / "val.npz", images=faces[:1], ids=np.array([99], dtype=np.int32))  # no train split
    dataset = celeba_dataset(str(tmp_path / "lo"), "train", 16)
    found = hires_sources(f"{tmp_path / 'a'}, {tmp_path / 'b'}", "train", dataset)
    assert len(found.images) == 1 and found.rows[:, 0].tolist() == [1, -1, 2, -1, 0, -1] and not found.single
    assert found.whole() is None, "no source holds every face"
    hires = found.batch(torch.tensor([4, 1]))
    assert torch.equal(hires.images[0][0], torch.from_numpy(faces[4]).permute(2, 0, 1)) and not hires.held[1, 0]
    np.savez(tmp_path / "a" / "train.npz", images=faces[[0, 4, 2]], ids=np.array([14, 10, 12], dtype=np.int32))
    with pytest.raises(DataError, match="not the same faces under the same ids"):
        hires_sources(str(tmp_path / "a"), "train", dataset)
