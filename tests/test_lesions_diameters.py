"""RECIST axes: analytic shapes in physical units."""

from __future__ import annotations

import numpy as np
import pytest

from wbrad.lesions.diameters import distances, largest_distance, recist_axes


def test_a_line_of_pixels() -> None:
    mask = np.zeros((3, 10, 20), bool)
    mask[1, 5, 2:9] = True  # 7 pixels along x
    assert recist_axes(mask, (0.7, 0.8, 2.5)) == pytest.approx((7 * 0.7, 0.8))


def test_rotated_ellipse_within_a_pixel() -> None:
    y, x = np.mgrid[:200, :200] - 99.5
    angle = np.deg2rad(30)
    u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
    mask = np.zeros((3, 200, 200), bool)
    mask[1] = (u / 60) ** 2 + (v / 25) ** 2 <= 1  # semi-axes 60 and 25 pixels of 0.5 mm
    mask[2] = (u / 30) ** 2 + (v / 20) ** 2 <= 1  # a smaller slice does not count
    long, short = recist_axes(mask, (0.5, 0.5, 3.0))
    assert long == pytest.approx(60.0, abs=0.5) and short == pytest.approx(25.0, abs=0.5)


def test_anisotropic_pixels_and_empty_mask() -> None:
    mask = np.zeros((1, 40, 40), bool)
    mask[0, 10:30, 15:25] = True  # 20 rows of 2 mm by 10 columns of 1 mm
    long, short = recist_axes(mask, (1.0, 2.0, 5.0))
    # outline: edge midpoints, rows at y = 19 and 59 mm (x 15..24 mm), columns at x = 14.5 and 24.5 mm (y 20..58 mm)
    assert long == pytest.approx(np.hypot(24 - 15, 59 - 19))  # top-left to bottom-right edge midpoints
    across = np.array([-(59 - 19), 24 - 15]) / long  # (x, y) perpendicular to the long axis
    assert short == pytest.approx(across @ [14.5, 58] - across @ [24.5, 20])
    assert np.isnan(recist_axes(np.zeros((2, 4, 4), bool), (1.0, 1.0, 1.0))).all()


@pytest.mark.parametrize("seed", range(10))
def test_distances_are_scipys_bit_for_bit(seed: int) -> None:
    """The job leaves scipy.spatial out; its distances must be pdist's, to the last bit (spread_mm, Dmax, axes)."""
    from scipy.spatial.distance import pdist, squareform

    rng = np.random.default_rng(seed)
    for dims in (2, 3):
        points = rng.normal(0, 80, size=(int(rng.integers(2, 600)), dims))
        np.testing.assert_array_equal(distances(points), squareform(pdist(points)))
        assert largest_distance(points) == pdist(points).max()
    assert largest_distance(points[:1]) == 0.0 and np.isnan(largest_distance(points[:0]))
