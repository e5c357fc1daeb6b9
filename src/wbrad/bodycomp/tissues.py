"""The licence-free route to muscle, visceral and subcutaneous fat: `total` masks and HU thresholds.

Without a TotalSegmentator licence there is no `tissue_types` model. Muscle is then the union of the `total` muscle
classes within the muscle window (-29 to 150 HU); fat is every body voxel within the fat window (-190 to -30 HU),
split per axial slice at the abdominal wall: fat connected through fat to the skin is subcutaneous, the rest
(inside the wall) visceral. The `total` classes miss the
abdominal wall muscles, so muscle area is lower than `tissue_types`' skeletal_muscle.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from wbrad.bodycomp.masks import Scan
from wbrad.bodycomp.metrics import FAT_HU, MUSCLE_HU, in_window

BODY_HU = -500
MUSCLE_CLASSES = tuple(f"total/{name}" for name in (
    "autochthon_left", "autochthon_right", "iliopsoas_left", "iliopsoas_right", "gluteus_maximus_left",
    "gluteus_maximus_right", "gluteus_medius_left", "gluteus_medius_right", "gluteus_minimus_left",
    "gluteus_minimus_right"))
SKIN_PIXELS = 3


def body_slice(ct: np.ndarray) -> np.ndarray:
    """The largest connected region above -500 HU on one slice, holes filled (air in bowel and lungs included)."""
    labels, n = ndimage.label(ct > BODY_HU)
    if n == 0:
        return np.zeros(ct.shape, bool)
    largest = 1 + int(np.argmax(ndimage.sum_labels(np.ones_like(labels), labels, range(1, n + 1))))
    return ndimage.binary_fill_holes(labels == largest)


def subcutaneous_slice(ct: np.ndarray, body: np.ndarray) -> np.ndarray:
    """Fat reachable from the skin through fat on one slice: subcutaneous; the abdominal wall stops it."""
    fat = body & in_window(ct, FAT_HU)
    rim = ndimage.binary_dilation(~body, iterations=SKIN_PIXELS) & body  # skin, with partial-volume pixels
    return ndimage.binary_propagation(rim & fat, mask=fat)


def licence_free_tissues(scan: Scan) -> dict[str, np.ndarray]:
    """Masks named like `tissue_types`' (``tissue_types/skeletal_muscle``, ``torso_fat``, ``subcutaneous_fat``); the
    muscle compartment is left whole, as tissue_types' is: the metrics apply the HU windows."""
    muscle = np.zeros(scan.ct.shape, bool)
    for name in MUSCLE_CLASSES:
        if name in scan.masks:
            muscle |= scan.masks[name]
    vat = np.zeros(scan.ct.shape, bool)
    sat = np.zeros(scan.ct.shape, bool)
    for z in range(scan.ct.shape[0]):
        body = body_slice(scan.ct[z])
        sat[z] = subcutaneous_slice(scan.ct[z], body)
        vat[z] = body & in_window(scan.ct[z], FAT_HU) & ~sat[z]
    return {"tissue_types/skeletal_muscle": muscle,
            "tissue_types/torso_fat": vat, "tissue_types/subcutaneous_fat": sat}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (NaN when both are empty)."""
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return 2 * np.count_nonzero(a & b) / total if total else float("nan")
