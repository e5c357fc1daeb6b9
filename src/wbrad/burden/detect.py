"""The burden's lesions of one PET: candidates at the rule's SUV level, physiological uptake removed, the relative
rule's trim, components of at least the minimum volume (default 3 cm3, Boellaard et al., JNM 2024)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wbrad.burden.components import label, lesions
from wbrad.burden.exclusion import exclude
from wbrad.burden.threshold import Threshold, trim_relative


@dataclass(frozen=True)
class Detection:
    labels: np.ndarray  # uint16 [z, y, x] on the PET grid, lesions 1..n by decreasing volume
    excluded_ml: float  # candidate volume removed as physiological uptake


def detect(suv: np.ndarray, spacing_zyx: tuple[float, ...], threshold: Threshold, level: float, organ: np.ndarray,
           margin: np.ndarray, min_ml: float) -> Detection:
    """Lesions of SUV >= ``level`` outside the organs and their margins (``exclusion.exclude``); for the relative rule
    each component is then trimmed to ``threshold.relative`` x its SUVmax."""
    voxel_ml = float(np.prod(spacing_zyx)) / 1000
    candidates = suv >= level
    kept = exclude(candidates, organ, margin, spacing_zyx)
    excluded_ml = float((candidates & ~kept).sum()) * voxel_ml
    if threshold.rule == "relative":
        kept = trim_relative(label(kept)[0], suv, threshold.relative)
    return Detection(lesions(kept, voxel_ml, min_ml), excluded_ml)
