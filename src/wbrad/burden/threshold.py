"""Candidate voxels of the PET tumour burden: the SUV level a voxel must reach, by one of three rules.

- ``absolute``: SUV >= 4, the threshold of the TMTV benchmark (Boellaard et al., JNM 2024);
- ``relative``: SUV >= 41 % of each component's SUVmax (EANM), the components found at SUV >= ``relative_floor`` and
  trimmed one by one after the physiological uptake is removed (``trim_relative``);
- ``percist``: SUV >= 1.5 x liver mean + 2 SD in a 3 cm sphere in the right lobe (PERCIST 1.0, Wahl et al., JNM 2009;
  PERCIST measures SUL: set ``convert.suv.mode: lbm`` for it). The sphere is placed automatically, at the voxel of the
  liver's right half (the patient's right: lower x in LPS) farthest from the liver's border and from voxels at or above
  ``absolute`` (lesions), and kept inside the liver and off those voxels; mean and SD are those of
  ``wbrad.lesions.pet.percist_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from wbrad.lesions.pet import percist_threshold

RULES = ("absolute", "relative", "percist")


@dataclass(frozen=True)
class Threshold:
    """The candidate rule and its settings (config ``burden.threshold``)."""

    rule: str = "absolute"
    absolute: float = 4.0  # SUV
    relative: float = 0.41  # share of a component's SUVmax
    relative_floor: float = 2.5  # SUV at which the relative rule's components are found
    sphere_mm: float = 30.0  # PERCIST's liver sphere, diameter

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown burden threshold rule {self.rule!r}; choose one of {RULES}")


def liver_sphere(liver: np.ndarray, avoid: np.ndarray, spacing_zyx: tuple[float, ...],
                 diameter_mm: float) -> np.ndarray:
    """Boolean [z, y, x] sphere of ``diameter_mm`` in the right lobe: centred where the liver's right half is farthest
    from its border and from ``avoid``, cut to the liver outside ``avoid``; an error without such a voxel."""
    free = liver & ~avoid
    if not free.any():
        raise ValueError("no liver voxel below the lesion level: no PERCIST liver reference")
    right = free.copy()
    right[..., int(np.median(np.nonzero(free)[2])) + 1:] = False  # the patient's right: x index up to the middle
    box = ndimage.find_objects(right.astype(np.uint8))[0]
    depth = ndimage.distance_transform_edt(np.pad(right[box], 1), sampling=spacing_zyx)[1:-1, 1:-1, 1:-1]
    centre = np.add(np.unravel_index(int(np.argmax(depth)), depth.shape), [s.start for s in box])
    grid = np.ogrid[tuple(slice(0, n) for n in liver.shape)]
    distance2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, spacing_zyx, strict=True))
    return (distance2 <= (diameter_mm / 2) ** 2) & free


def candidate_level(suv: np.ndarray, threshold: Threshold, spacing_zyx: tuple[float, ...],
                    liver: np.ndarray | None = None) -> float:
    """The SUV a candidate voxel reaches (the relative rule's floor for ``relative``); ``liver`` for ``percist``."""
    if threshold.rule == "absolute":
        return threshold.absolute
    if threshold.rule == "relative":
        return threshold.relative_floor
    if liver is None or not liver.any():
        raise ValueError("the PERCIST threshold needs the segmentation's liver mask")
    sphere = liver_sphere(liver, suv >= threshold.absolute, spacing_zyx, threshold.sphere_mm)
    # every voxel of the sphere: a voxel inside a mask is at least one voxel from its outside
    return percist_threshold(suv, sphere, np.zeros(suv.shape, bool), spacing_zyx[::-1], min(spacing_zyx) / 2)


def trim_relative(labels: np.ndarray, suv: np.ndarray, share: float) -> np.ndarray:
    """Boolean [z, y, x]: the voxels of each component (``labels`` > 0) at or above ``share`` x its SUVmax."""
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return np.zeros(labels.shape, bool)
    maxima = np.concatenate([[np.inf], ndimage.maximum(suv, labels, np.arange(1, n + 1))])
    return (labels > 0) & (suv >= share * maxima[labels])
