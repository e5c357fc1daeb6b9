"""TotalSegmentator-format masks from the phantom's labels: ``total/<class>.nii.gz`` and ``tissue_types/<class>``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wbrad.segmentation import SKELETAL_MUSCLE, SUBCUTANEOUS_FAT, TORSO_FAT, mask_path, total
from wbrad.synth.grid import Grid
from wbrad.synth.phantom import MUSCLE, VERTEBRAE, Tissue

TOTAL_LABELS: dict[str, tuple[int, ...]] = {  # class: phantom labels; the phantom's names are TotalSegmentator's
    **{total(t.name.lower()): (int(t),) for t in Tissue if t not in (
        Tissue.AIR, Tissue.SAT, Tissue.VAT, Tissue.WALL, Tissue.BOWEL, Tissue.DISC, Tissue.VERTEBRA)},
    **{total(name): (Tissue.VERTEBRA + k,) for k, (name, *_rest) in enumerate(VERTEBRAE)},
}
TISSUE_LABELS: dict[str, tuple[int, ...]] = {
    SUBCUTANEOUS_FAT: (int(Tissue.SAT),), TORSO_FAT: (int(Tissue.VAT),), SKELETAL_MUSCLE: tuple(map(int, MUSCLE)),
}


def class_masks(labels: np.ndarray, lesions: np.ndarray) -> dict[str, np.ndarray]:
    """``task/class`` -> uint8 mask. Lesions stay inside organ masks but are cut out of the tissue types."""
    out = {name: np.isin(labels, ids).astype(np.uint8) for name, ids in TOTAL_LABELS.items()}
    free = lesions == 0
    out |= {name: (np.isin(labels, ids) & free).astype(np.uint8) for name, ids in TISSUE_LABELS.items()}
    return out


def write_segmentation(folder: Path, labels: np.ndarray, lesions: np.ndarray, grid: Grid, write) -> None:
    """Write every class file (empty ones too, as TotalSegmentator does) with ``write(image, path)``."""
    for name, mask in class_masks(labels, lesions).items():
        write(grid.image(mask), mask_path(folder, name))
