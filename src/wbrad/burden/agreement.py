"""Agreement of the detected lesions (PET grid) with the contoured ones (the CT lesion map), on the CT grid."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from wbrad.lesions.pet import on_grid


def agreement(detected: sitk.Image, contours: sitk.Image) -> dict[str, float]:
    """``contoured_lesions``, ``detected_contoured`` (contoured lesions a detected one overlaps), ``detection_recall``
    (NA without contoured lesions), ``false_positives`` (detected lesions overlapping no contoured one) and ``dice``
    of the two unions (NA when both are empty). The detected map is brought onto the CT grid by nearest neighbour."""
    found = on_grid(detected, contours)
    drawn = sitk.GetArrayViewFromImage(contours)
    both = (found > 0) & (drawn > 0)
    contoured = np.setdiff1d(np.unique(drawn), [0])
    hit = np.unique(drawn[both])
    n_detected = int(sitk.GetArrayViewFromImage(detected).max())
    union = int((found > 0).sum() + (drawn > 0).sum())
    return {
        "contoured_lesions": len(contoured),
        "detected_contoured": len(hit),
        "detection_recall": len(hit) / len(contoured) if len(contoured) else np.nan,
        "false_positives": n_detected - len(np.unique(found[both])),
        "dice": 2 * int(both.sum()) / union if union else np.nan,
    }
