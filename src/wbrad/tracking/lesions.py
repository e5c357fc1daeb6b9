"""Per-lesion geometry of a label map in one pass, and a follow-up's label map brought onto the baseline grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

TABLE_COLUMNS = ["label", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm", "voxels", "volume_ml"]


@dataclass(frozen=True)
class Lesion:
    """One label of a label map: its centroid (physical x, y, z in mm), size, and its voxels as sorted flat indices
    into the map's ``[z, y, x]`` array (so masks of one grid intersect with ``np.intersect1d``)."""

    label: int
    centroid_mm: np.ndarray
    voxels: int
    volume_ml: float
    flat: np.ndarray


def _shape_stats(label_map: sitk.Image) -> sitk.LabelShapeStatisticsImageFilter:
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(sitk.Cast(label_map, sitk.sitkUInt32))
    return stats


def lesion_table(label_map: sitk.Image) -> pd.DataFrame:
    """``label, centroid_x_mm, centroid_y_mm, centroid_z_mm, voxels, volume_ml`` per label (> 0), in label order;
    the centroid is physical (origin, spacing and direction applied)."""
    stats = _shape_stats(label_map)
    rows = [(k, *stats.GetCentroid(k), stats.GetNumberOfPixels(k), stats.GetPhysicalSize(k) / 1000.0)
            for k in sorted(stats.GetLabels())]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).astype({"label": "int64", "voxels": "int64"})


def lesions_of(label_map: sitk.Image) -> list[Lesion]:
    """Every label (> 0) of ``label_map`` as a :class:`Lesion`, in label order, from one pass over the array."""
    stats = _shape_stats(label_map)
    arr = sitk.GetArrayViewFromImage(label_map)
    boxes = ndimage.find_objects(arr)
    out = []
    for k in sorted(stats.GetLabels()):
        box = boxes[k - 1]
        local = np.nonzero(arr[box] == k)
        index = tuple(i + s.start for i, s in zip(local, box, strict=True))
        flat = np.sort(np.ravel_multi_index(index, arr.shape))
        out.append(Lesion(int(k), np.asarray(stats.GetCentroid(k)), int(stats.GetNumberOfPixels(k)),
                          stats.GetPhysicalSize(k) / 1000.0, flat))
    return out


def dilate(flat: np.ndarray, shape: tuple[int, ...], spacing_zyx: tuple[float, ...], mm: float) -> np.ndarray:
    """The voxels (sorted flat indices) within ``mm`` of a mask given as flat indices, by a Euclidean distance map in
    mm on the mask's bounding box padded by ``mm`` (so the cost is the lesion's size, not the image's)."""
    if mm <= 0 or flat.size == 0:
        return flat
    index = np.unravel_index(flat, shape)
    pad = np.ceil(mm / np.asarray(spacing_zyx)).astype(int)
    lo = np.maximum([i.min() for i in index] - pad, 0)
    hi = np.minimum([i.max() + 1 for i in index] + pad, shape)
    box = np.ones(hi - lo, bool)
    box[tuple(i - o for i, o in zip(index, lo, strict=True))] = False
    near = np.nonzero(ndimage.distance_transform_edt(box, sampling=spacing_zyx) <= mm)
    return np.sort(np.ravel_multi_index(tuple(i + o for i, o in zip(near, lo, strict=True)), shape))


def to_baseline(followup_labels: sitk.Image, baseline: sitk.Image, transform: sitk.Transform) -> sitk.Image:
    """The follow-up label map on ``baseline``'s grid: nearest-neighbour resampling through ``transform`` (which maps
    baseline points to follow-up points, see :func:`wbrad.tracking.register.register`); outside the follow-up is 0.
    A lesion smaller than about one baseline voxel can vanish here; the caller may compare the label sets."""
    return sitk.Resample(followup_labels, baseline, transform, sitk.sitkNearestNeighbor, 0,
                         followup_labels.GetPixelID())
