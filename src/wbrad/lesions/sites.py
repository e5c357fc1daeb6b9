"""Organ site of each lesion from the scan's TotalSegmentator masks (``seg/``, on the CT grid).

A lesion lies in an organ (liver, lung, bone) when at least half of its voxels are inside that organ's masks. Lymph
nodes and subcutaneous deposits are not organs of TotalSegmentator (and the tissue masks have lesions cut out), so the
rest is decided by what surrounds the lesion: the shell of voxels within ``shell_mm`` around it. A shell mostly in
``subcutaneous_fat`` gives ``subcutaneous``; mostly in ``torso_fat`` (visceral, mediastinal, retroperitoneal fat, where
nodes lie) gives ``lymph_node``; anything else ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

SITES = ("liver", "lung", "lymph_node", "bone", "subcutaneous", "other")
ORGANS: dict[str, tuple[str, ...]] = {  # glob patterns under seg/
    "liver": ("total/liver.nii.gz",),
    "lung": ("total/lung_*.nii.gz",),
    "bone": tuple(f"total/{p}.nii.gz" for p in ("vertebrae_*", "sacrum", "rib_*", "hip_*", "femur_*", "humerus_*",
                                                 "scapula_*", "clavicula_*", "sternum", "skull")),
}
SURROUNDINGS = {"subcutaneous": "tissue_types/subcutaneous_fat.nii.gz", "lymph_node": "tissue_types/torso_fat.nii.gz"}
MAJORITY = 0.5


def _union(seg: Path, patterns: Iterable[str], like: sitk.Image) -> np.ndarray:
    """The union of the masks matching ``patterns`` (all False when none exists), checked against ``like``'s grid."""
    union = np.zeros(sitk.GetArrayViewFromImage(like).shape, bool)
    for path in sorted(p for pattern in patterns for p in seg.glob(pattern)):
        mask = sitk.ReadImage(str(path))
        if mask.GetSize() != like.GetSize() or not np.allclose(mask.GetOrigin(), like.GetOrigin(), atol=1e-3):
            raise ValueError(f"{path}: size {mask.GetSize()} / origin {mask.GetOrigin()} differ from the lesion map's "
                             f"{like.GetSize()} / {like.GetOrigin()}")
        union |= sitk.GetArrayViewFromImage(mask) > 0
    return union


def _shells(labels: np.ndarray, boxes: dict[int, tuple[slice, ...]], radius: np.ndarray) -> dict[int, tuple]:
    """Per lesion: (box grown by ``radius`` voxels, lesion mask in it, shell mask in it)."""
    out = {}
    structure = ndimage.generate_binary_structure(3, 1)
    for k, box in boxes.items():
        grown = tuple(slice(max(s.start - r, 0), min(s.stop + r, n)) for s, r, n in zip(box, radius, labels.shape))
        lesion = labels[grown] == k
        dilated = ndimage.binary_dilation(lesion, structure, iterations=int(radius.max()))
        out[k] = grown, lesion, dilated & ~lesion & (labels[grown] == 0)
    return out


def lesion_sites(labels: sitk.Image, seg: Path, lesion_ids: Iterable[int], shell_mm: float = 5.0) -> dict[int, str]:
    """Site (one of ``SITES``) of each requested lesion present in ``labels``; absent lesions are left out."""
    array = sitk.GetArrayViewFromImage(labels)
    found = ndimage.find_objects(array)
    boxes = {k: found[k - 1] for k in lesion_ids if 0 < k <= len(found) and found[k - 1] is not None}
    radius = np.maximum(np.ceil(shell_mm / np.array(labels.GetSpacing()[::-1])).astype(int), 1)
    shells = _shells(array, boxes, radius)
    share: dict[int, dict[str, float]] = {k: {} for k in boxes}
    for site, patterns in ORGANS.items():
        organ = _union(seg, patterns, labels)
        for k, (grown, lesion, _) in shells.items():
            share[k][site] = float(organ[grown][lesion].mean())
    for site, pattern in SURROUNDINGS.items():
        tissue = _union(seg, [pattern], labels)
        for k, (grown, _, shell) in shells.items():
            share[k][site] = float(tissue[grown][shell].mean()) if shell.any() else 0.0
    return {k: _site(share[k]) for k in boxes}


def _site(share: dict[str, float]) -> str:
    organ = max(ORGANS, key=lambda s: share[s])
    if share[organ] >= MAJORITY:
        return organ
    around = max(SURROUNDINGS, key=lambda s: share[s])
    return around if share[around] >= MAJORITY else "other"
