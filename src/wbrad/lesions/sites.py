"""Organ site of each lesion from the scan's TotalSegmentator masks (``seg/``, on the CT grid).

A lesion lies in an organ (liver, lung, bone) when at least half of its voxels are inside that organ's masks. Lymph
nodes and subcutaneous deposits are not organs of TotalSegmentator, so the rest is decided by what surrounds the
lesion: the shell of lesion-free voxels within ``shell_mm`` around it (whether the tissue masks hold the lesions or not,
as licensed ones do not and licence-free ones may). A shell mostly in ``subcutaneous_fat`` gives ``subcutaneous``;
mostly in ``torso_fat`` (visceral, mediastinal, retroperitoneal fat, where nodes lie) gives ``lymph_node``; anything
else ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad.labelmap import dilate_faces, label_boxes
from wbrad.segmentation import BONES, LIVER, LUNG, SUBCUTANEOUS_FAT, TORSO_FAT, load_union

ORGANS: dict[str, tuple[str, ...]] = {"liver": (LIVER,), "lung": LUNG, "bone": BONES}  # site: classes
SURROUNDINGS = {"subcutaneous": SUBCUTANEOUS_FAT, "lymph_node": TORSO_FAT}
MAJORITY = 0.5
LESION_MAP = "the lesion map"


def _shells(labels: np.ndarray, boxes: dict[int, tuple[slice, ...]], radius: np.ndarray) -> dict[int, tuple]:
    """Per lesion: (box grown by ``radius`` voxels, lesion mask in it, shell mask in it)."""
    out = {}
    for k, box in boxes.items():
        grown = tuple(
            slice(max(s.start - r, 0), min(s.stop + r, n)) for s, r, n in zip(box, radius, labels.shape, strict=True)
        )
        lesion = labels[grown] == k
        dilated = dilate_faces(lesion, int(radius.max()))
        out[k] = grown, lesion, dilated & ~lesion & (labels[grown] == 0)
    return out


def lesion_sites(labels: sitk.Image, seg: Path, lesion_ids: Iterable[int], shell_mm: float = 5.0,
                 boxes: Sequence[tuple[slice, ...] | None] | None = None) -> dict[int, str]:
    """Site (one of ``lesions.columns.SITES``) of each requested lesion present in ``labels``; absent lesions are
    left out. ``boxes``: the map's ``label_boxes``, if the caller has it."""
    array = sitk.GetArrayViewFromImage(labels)
    found = label_boxes(array) if boxes is None else boxes
    boxes = {k: found[k - 1] for k in lesion_ids if 0 < k <= len(found) and found[k - 1] is not None}
    radius = np.maximum(np.ceil(shell_mm / np.array(labels.GetSpacing()[::-1])).astype(int), 1)
    shells = _shells(array, boxes, radius)
    share: dict[int, dict[str, float]] = {k: {} for k in boxes}
    for site, classes in ORGANS.items():
        organ = load_union(seg, classes, labels, LESION_MAP)
        for k, (grown, lesion, _) in shells.items():
            share[k][site] = float(organ[grown][lesion].mean())
    for site, name in SURROUNDINGS.items():
        tissue = load_union(seg, [name], labels, LESION_MAP)
        for k, (grown, _, shell) in shells.items():
            share[k][site] = float(tissue[grown][shell].mean()) if shell.any() else 0.0
    return {k: _site(share[k]) for k in boxes}


def _site(share: dict[str, float]) -> str:
    organ = max(ORGANS, key=lambda s: share[s])
    if share[organ] >= MAJORITY:
        return organ
    around = max(SURROUNDINGS, key=lambda s: share[s])
    return around if share[around] >= MAJORITY else "other"
