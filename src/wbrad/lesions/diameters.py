"""RECIST-style diameters of a lesion mask: the longest axial diameter and the short axis perpendicular to it.

In each axial slice the lesion's outline is the set of midpoints between a lesion pixel and an in-plane 4-neighbour
outside it (the points where a marching-squares contour crosses pixel edges, as pyradiomics' 2D diameters use). The
long axis is the largest distance between two outline points of one slice, over all slices; the short axis is the
outline's width perpendicular to that long axis, in the same slice. Arrays are [z, y, x] with the identity direction
(the data contract), so axial slices are ``mask[z]``.

A lesion cut by the image border (``extract``: truncated) shows only part of itself. Its long axis is a lower bound of
the whole lesion's: every outline point of a part lies in the convex hull of the whole section's outline, so no
section of the part is wider than the whole's, and the slices cut away can only add candidates. Its short axis is no
bound (the slice of the long axis may change, and a cut narrows or leaves the width), so ``extract`` leaves it NaN.
"""

from __future__ import annotations

import numpy as np

AXIS_COLUMNS = ["long_axis_mm", "short_axis_mm"]


def outline_mm(section: np.ndarray, spacing_yx: tuple[float, float]) -> np.ndarray:
    """(n, 2) physical (y, x) outline points of a 2D boolean mask: midpoints of pixel edges leaving the mask."""
    padded = np.pad(section, 1)
    points = []
    for axis in (0, 1):
        for step in (-1, 1):
            outside = ~np.roll(padded, -step, axis=axis)
            idx = np.argwhere(padded & outside).astype(float) - 1  # back to unpadded pixel indices
            idx[:, axis] += step / 2
            points.append(idx)
    return np.concatenate(points) * np.asarray(spacing_yx)


def distances(block: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances between the rows of ``block`` and those of ``points`` (default ``block``), as scipy's
    ``cdist`` (``squareform(pdist(block))`` for one array), without importing scipy.spatial (0.15 s per job)."""
    points = block if points is None else points
    return np.sqrt(((block[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1))


def largest_distance(points: np.ndarray) -> float:
    """The largest distance between two rows of an (n, d) array (0 for one row, NaN for none), 256 rows at a time,
    so that thousands of points need no n x n matrix."""
    if len(points) < 2:
        return 0.0 if len(points) else np.nan
    return float(max(distances(points[i:i + 256], points).max() for i in range(0, len(points), 256)))


def _hull(points: np.ndarray) -> np.ndarray:
    """The outline's convex hull vertices (the only candidates for the diameters), for larger outlines."""
    if len(points) < 250:  # all pairs are cheaper than qhull
        return points
    from scipy.spatial import ConvexHull, QhullError  # a job with small lesions does without scipy (issue 16)

    try:
        return points[ConvexHull(points).vertices]
    except QhullError:  # collinear points: all of them are extreme enough
        return points


def _slice_axes(points: np.ndarray) -> tuple[float, float]:
    hull = _hull(points)
    pairs = distances(hull)
    i, j = np.unravel_index(np.argmax(pairs), pairs.shape)
    direction = (hull[j] - hull[i]) / pairs[i, j]
    across = hull @ np.array([-direction[1], direction[0]])
    return float(pairs[i, j]), float(np.ptp(across))


def recist_axes(mask: np.ndarray, spacing_xyz: tuple[float, float, float]) -> tuple[float, float]:
    """(long axis, short axis) in mm of a [z, y, x] boolean mask; NaN for an empty mask."""
    best = (np.nan, np.nan)
    spacing_yx = (spacing_xyz[1], spacing_xyz[0])
    for z in np.flatnonzero(mask.any(axis=(1, 2))):
        axes = _slice_axes(outline_mm(mask[z], spacing_yx))
        if not axes[0] <= best[0]:  # also replaces the initial NaN
            best = axes
    return best
