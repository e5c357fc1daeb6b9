"""The values of the excluded-voxel map (``study.BURDEN_EXCLUDED``, PET grid): written by the burden job, drawn by the
MIP job (whose environment has no pyradiomics, so this module imports only numpy)."""

from __future__ import annotations

import numpy as np

ORGAN, MARGIN = 1, 2  # inside an excluded organ, in its margin; 0 elsewhere


def excluded_map(organ: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """uint8 [z, y, x]: ``ORGAN`` in the organs, ``MARGIN`` in their margins (``margin`` > 0), 0 elsewhere."""
    return np.where(organ, ORGAN, np.where(margin > 0, MARGIN, 0)).astype(np.uint8)
