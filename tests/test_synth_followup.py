"""A moved follow-up's lesion masks drawn in the scan frame (synth.followup.contour_in_scan)."""

from __future__ import annotations

import numpy as np

from wbrad.synth.followup import Pose, contour_in_scan, ellipsoid_matrix, resample, sampling
from wbrad.synth.grid import Grid
from wbrad.synth.lesions import Lesion, _local

GRID = Grid((3.0, 3.0, 5.0), (40, 36, 24), (-60.0, -54.0, -60.0))
POSE = Pose((2.0, -1.5, 3.0), (4.3, -2.1, 7.7), (0.0, 0.0, 0.0), (2.0, 4.0), 0.0)


def _lesion(label: int, centre: tuple[float, float, float]) -> Lesion:
    angle = np.deg2rad(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    return Lesion(label, "liver", np.array([11.0, 6.5, 8.0]), rotation, 0.0, 100.0, 90.0, False, 5.0,
                  scale={"fu1": 1.0}, centre_mm=np.array(centre))


def _analytic(lesion: Lesion) -> np.ndarray:
    z, y, x = GRID.axes()
    offset = POSE.to_body(x, y, z) - lesion.centre_mm
    return np.einsum("...i,ij,...j->...", offset, ellipsoid_matrix(lesion, 1.0), offset) <= 1


def test_moved_masks_are_the_voxels_whose_centres_lie_in_the_lesion():
    lesions = {1: _lesion(1, (-20.0, 5.0, -10.0)), 2: _lesion(2, (22.0, -8.0, 12.0))}
    body = np.zeros(GRID.array_shape, np.uint16)
    hu = np.full(GRID.array_shape, 40.0, np.float32)
    for label, lesion in lesions.items():
        box, q = _local(lesion, GRID, 1.0)
        body[box][q <= 1] = label
        hu[box][q <= 1] = 100.0
    coords = sampling(POSE, GRID)
    moved, moved_hu = resample(body, coords, False), resample(hu, coords, False)
    sampled = moved.copy()
    contour_in_scan(moved, moved_hu, np.full_like(moved_hu, 40.0), lesions, "fu1", POSE, GRID)
    for label, lesion in lesions.items():
        truth = _analytic(lesion)
        assert ((sampled == label) != truth).sum() > 0  # the body-frame mask sampled nearest is off in places
        assert np.array_equal(moved == label, truth)
    assert np.all(moved_hu[moved > 0] == 100.0) and np.all(moved_hu[moved == 0] == 40.0)
