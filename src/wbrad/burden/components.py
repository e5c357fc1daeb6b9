"""Connected lesions of the burden and what a scan's burden is made of: TMTV, TLG, count, SUVmax and Dmax.

Voxels join a lesion through faces, edges and corners (26-connectivity). TMTV is the lesions' voxel volume and TLG the
sum of SUV x voxel volume over it (= sum of SUVmean x MTV), both over whole PET voxels; Dmax, the dissemination, is the
largest distance between two lesions' centroids (Cottereau et al., JNM 2020; 0 for one lesion, NA for none), as the
lesion aggregates' ``spread_mm``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from wbrad.lesions.diameters import largest_distance

STRUCTURE = ndimage.generate_binary_structure(3, 3)  # 26-connectivity


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected components of a boolean [z, y, x] mask (int32 labels 1..n) and their number."""
    labels, n = ndimage.label(mask, STRUCTURE)
    return labels, int(n)


def lesions(mask: np.ndarray, voxel_ml: float, min_ml: float) -> np.ndarray:
    """uint16 label map of the components of ``mask`` of at least ``min_ml``, numbered 1..n by decreasing volume
    (ties in the order of their first voxel)."""
    labels, n = label(mask)
    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = np.flatnonzero(counts * voxel_ml >= min_ml - 1e-9)
    order = keep[np.argsort(-counts[keep], kind="stable")]
    if len(order) > np.iinfo(np.uint16).max:
        raise ValueError(f"{len(order)} lesions: more than a uint16 label map holds")
    relabel = np.zeros(n + 1, np.uint16)
    relabel[order + 1] = np.arange(1, len(order) + 1)
    return relabel[labels]


def burden(labels: np.ndarray, suv: np.ndarray, spacing_zyx: tuple[float, ...]) -> dict[str, float]:
    """``tmtv_ml``, ``tlg``, ``lesion_count``, ``suvmax`` (NA without lesions) and ``dmax_mm`` of a label map."""
    voxel_ml = float(np.prod(spacing_zyx)) / 1000
    inside = labels > 0
    n = int(labels.max()) if inside.any() else 0
    ids = np.arange(1, n + 1)
    centres = np.array(ndimage.center_of_mass(inside, labels, ids)).reshape(-1, 3) * np.asarray(spacing_zyx)
    return {
        "tmtv_ml": float(inside.sum()) * voxel_ml,
        "tlg": float(suv[inside].astype(np.float64).sum()) * voxel_ml,
        "lesion_count": n,
        "suvmax": float(suv[inside].max()) if n else np.nan,
        "dmax_mm": largest_distance(centres),
    }
