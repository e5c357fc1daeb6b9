"""The few label-map operations of the per-scan lesion job, in numpy, value for value as ``scipy.ndimage`` gives them.

Importing ``scipy.ndimage`` costs a job about 0.25 s of CPU (scipy 1.17 with its array-API layer), a quarter of a
lesion job on a small scan and 10 CPU minutes over a 2,300-scan registry (issue 16). These four are what that job
used it for; tests/test_labelmap.py checks each against ``scipy.ndimage`` on random maps. Arrays are [z, y, x].
"""

from __future__ import annotations

import numpy as np

Box = tuple[slice, ...]


def label_boxes(labels: np.ndarray) -> list[Box | None]:
    """``ndimage.find_objects``: per label 1..max, the bounding box of its voxels as slices, None where absent."""
    flat = np.flatnonzero(labels > 0)
    if not flat.size:
        return []
    values = labels.reshape(-1)[flat].astype(np.intp)
    n = int(values.max())
    coords = np.unravel_index(flat, labels.shape)
    lows, highs = [], []
    for axis in coords:
        low, high = np.full(n + 1, np.iinfo(np.intp).max), np.full(n + 1, -1)
        np.minimum.at(low, values, axis)
        np.maximum.at(high, values, axis)
        lows.append(low)
        highs.append(high)
    present = np.zeros(n + 1, bool)
    present[values] = True
    return [tuple(slice(int(lo[k]), int(hi[k]) + 1) for lo, hi in zip(lows, highs, strict=True)) if present[k]
            else None for k in range(1, n + 1)]


def centre_of_mass(mask: np.ndarray) -> tuple[float, ...]:
    """``ndimage.center_of_mass`` of a binary (or weight) array, in voxel indices: the same sums in the same order."""
    total = mask.sum()
    grids = np.ogrid[tuple(slice(0, n) for n in mask.shape)]
    return tuple(float((mask * grid.astype(float)).sum() / total) for grid in grids)


def _shifted(array: np.ndarray, offset: tuple[int, ...], fill: float | bool) -> np.ndarray:
    """``array`` moved so that ``out[i] = array[i + offset]``, ``fill`` where ``i + offset`` is outside."""
    out = np.full_like(array, fill)
    if any(abs(o) >= n for o, n in zip(offset, array.shape, strict=True)):
        return out
    target = tuple(slice(max(-o, 0), n - max(o, 0)) for o, n in zip(offset, array.shape, strict=True))
    source = tuple(slice(max(o, 0), n + min(o, 0)) for o, n in zip(offset, array.shape, strict=True))
    out[target] = array[source]
    return out


def dilate_faces(mask: np.ndarray, iterations: int) -> np.ndarray:
    """``ndimage.binary_dilation(mask, generate_binary_structure(ndim, 1), iterations)`` for ``iterations >= 1``:
    grown through faces, one voxel per iteration, nothing beyond the array (its border value 0)."""
    grown = mask.astype(bool)
    faces = [tuple(step if a == axis else 0 for a in range(mask.ndim)) for axis in range(mask.ndim) for step in (-1, 1)]
    for _ in range(iterations):
        grown = grown | np.logical_or.reduce([_shifted(grown, offset, False) for offset in faces])
    return grown


def correlate_zero(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``ndimage.correlate(values, weights, mode="constant")`` (0 outside, kernel centred, odd sizes): the weighted
    sum accumulated over the kernel's weights in C order, as ndimage's loop adds them (it skips those within the
    float64 epsilon of 0)."""
    centre = np.array(weights.shape) // 2
    out = np.zeros(values.shape, np.result_type(values, weights, np.float64))
    for index in zip(*np.nonzero(np.abs(weights) > np.finfo(np.float64).eps), strict=True):
        out += _shifted(values, tuple(int(i) for i in np.subtract(index, centre)), 0) * weights[index]
    return out
