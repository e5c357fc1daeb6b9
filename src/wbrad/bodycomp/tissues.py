"""The licence-free route to muscle, visceral and subcutaneous fat: `total` masks and HU thresholds.

Without a TotalSegmentator licence there is no `tissue_types` model. Muscle is then the union of the `total` muscle
classes (the metrics apply the muscle window, -29 to 150 HU); fat is every body voxel within the fat window (-190 to
-30 HU), split per axial slice at the abdominal wall: fat connected through fat to the skin is subcutaneous, the rest
(inside the wall) visceral. The `total` classes miss the abdominal wall muscles, so muscle area is lower than
`tissue_types`' skeletal_muscle. Lesions are not cut out: their HU lie outside the fat window, and lesion sites look
at the shell around each lesion only.

The segment job writes these masks where `tissue_types` would (``seg/tissue_types/<class>.nii.gz``) and records the
route in ``seg/derived.json``, so every later stage reads the same files whatever the route.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from wbrad.bodycomp.masks import read_ct
from wbrad.bodycomp.metrics import FAT_HU, in_window
from wbrad.image import write_image
from wbrad.segmentation import (
    LICENCE_FREE,
    LICENSED,
    MUSCLES,
    SKELETAL_MUSCLE,
    SUBCUTANEOUS_FAT,
    TISSUE_TYPES,
    TORSO_FAT,
    load_union,
    mask_path,
    read_derived,
    write_derived,
)

log = logging.getLogger(__name__)

BODY_HU = -500
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


def licence_free_tissues(ct: np.ndarray, muscles: np.ndarray) -> dict[str, np.ndarray]:
    """Masks named like `tissue_types`' from the HU array and the union of the `total` muscle classes; the muscle
    compartment is left whole, as tissue_types' is: the metrics apply the HU windows."""
    vat = np.zeros(ct.shape, bool)
    sat = np.zeros(ct.shape, bool)
    for z in range(ct.shape[0]):
        body = body_slice(ct[z])
        sat[z] = subcutaneous_slice(ct[z], body)
        vat[z] = body & in_window(ct[z], FAT_HU) & ~sat[z]
    return {SKELETAL_MUSCLE: muscles, TORSO_FAT: vat, SUBCUTANEOUS_FAT: sat}


def derive_tissues(ct: Path, seg: Path) -> None:
    """Write the licence-free masks into the segmentation folder ``seg`` of ``ct``, in place of any licensed tasks'
    (a precomputed folder may hold them), and record them in ``seg/derived.json``."""
    img = read_ct(ct)
    found = [name for name in MUSCLES if mask_path(seg, name).is_file()]
    tissues = licence_free_tissues(sitk.GetArrayFromImage(img), load_union(seg, found, img, str(ct)))
    for task in LICENSED:
        if (Path(seg) / task).exists():
            log.info("licence-free route: %s replaces the backend's %s", TISSUE_TYPES, task)
            shutil.rmtree(Path(seg) / task)
    for name, mask in tissues.items():
        out = sitk.GetImageFromArray(mask.astype(np.uint8))
        out.CopyInformation(img)
        write_image(out, mask_path(seg, name))
    fat = f"CT voxels {FAT_HU[0]}..{FAT_HU[1]} HU in the body"
    write_derived(seg, {"tissue_source": LICENCE_FREE, "classes": {
        SKELETAL_MUSCLE: {"from": found, "rule": "union of the muscle classes"},
        SUBCUTANEOUS_FAT: {"from": ["ct"], "rule": f"{fat} connected through fat to the skin, per axial slice"},
        TORSO_FAT: {"from": ["ct"], "rule": f"{fat} not subcutaneous"}}})
    log.info("licence-free route: wrote %s from %d muscle classes and the CT's HU", ", ".join(tissues), len(found))


def tissue_source_of(seg: Path) -> str:
    """The route that gave ``seg``'s tissue masks: ``licence_free`` where the segment job derived them."""
    return read_derived(seg).get("tissue_source", TISSUE_TYPES)
