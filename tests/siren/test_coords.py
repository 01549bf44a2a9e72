"""Coordinate grids, signal <-> point sets, pixel subsets, and the seeded generators that draw them."""

from __future__ import annotations

import pytest
import torch

from hypersiren.siren.coords import grid, image_to_points, points_to_image, random_pixels, take_pixels
from hypersiren.utils import seeds


def test_grid_spans_minus_one_to_one_row_major():
    g = grid(3, 4)
    assert g.shape == (12, 2)
    assert g[0].tolist() == [-1.0, -1.0] and g[-1].tolist() == [1.0, 1.0], "corners at -1 and 1, (y, x)"
    assert g[1].tolist() == pytest.approx([-1.0, -1.0 / 3]), "x varies fastest (row-major)"
    assert grid(1, 5)[:, 0].eq(0).all(), "an axis of size 1 sits at 0"
    with pytest.raises(ValueError, match="positive"):
        grid(0, 4)


def test_points_round_trip():
    images = torch.randn(2, 3, 5, 7)
    points = image_to_points(images)  # (B, H*W, C)
    assert points.shape == (2, 35, 3) and torch.equal(points[:, 8], images[:, :, 1, 1])
    assert torch.equal(points_to_image(points, 5, 7), images)
    with pytest.raises(ValueError, match="cannot form"):
        points_to_image(points, 6, 6)


def test_random_pixels_are_distinct_seeded_and_gathered_in_order():
    a = random_pixels(8, 8, 20, seeds.generator(0, 5))
    assert a.shape == (20,) and len(set(a.tolist())) == 20 and 0 <= a.min() and a.max() < 64
    assert torch.equal(a, random_pixels(8, 8, 20, seeds.generator(0, 5))), "same keys, same pixels"
    images = torch.randn(2, 3, 8, 8)
    taken = take_pixels(images, a)  # (B, C, S)
    assert taken.shape == (2, 3, 20)
    assert torch.equal(taken[:, :, 3], images[:, :, a[3] // 8, a[3] % 8]), "flat row-major indices"
    coords = take_pixels(grid(8, 8).T.unflatten(1, (8, 8)), a).T  # the grid laid out as (2, H, W)
    assert torch.equal(coords, grid(8, 8)[a]), "coordinates of the same pixels"
    with pytest.raises(ValueError, match="count must lie in"):
        random_pixels(4, 4, 17)
    with pytest.raises(ValueError, match="1-D"):
        take_pixels(images, a[None])


def test_seeded_generators_one_scheme():
    draw = lambda *keys: torch.rand(4, generator=seeds.generator(*keys)).tolist()  # noqa: E731
    assert draw(1, 2) == draw(1, 2), "the same keys give the same stream"
    assert len({tuple(draw(*k)) for k in [(1, 2), (2, 1), (1, -2), (0, 1000), (1, 0), (1,)]}) == 6, "unrelated"
    assert 0 <= seeds.seed_of(-1, -2) < 2**63
    with pytest.raises(ValueError, match="at least one key"):
        seeds.seed_of()


def test_pixel_centres_are_grid_samples_registration():
    """``align_corners=False`` puts pixel i at -1 + (2 i + 1) / n: grid_sample reads the image itself back there."""
    g = grid(4, 6, align_corners=False)
    assert g[0].tolist() == pytest.approx([-3 / 4, -5 / 6]) and g[-1].tolist() == pytest.approx([3 / 4, 5 / 6])
    image = torch.randn(1, 3, 4, 6)
    xy = g.flip(-1).view(1, 4, 6, 2)  # grid_sample takes (x, y)
    read = torch.nn.functional.grid_sample(image, xy, mode="bilinear", align_corners=False)
    torch.testing.assert_close(read, image)
    assert torch.equal(grid(5, extent=2.0)[:, 0], torch.linspace(-2, 2, 5))
