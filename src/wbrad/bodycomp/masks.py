"""Load a CT and its TotalSegmentator masks (per-class folders or a multilabel file) as canonical arrays."""

from __future__ import annotations

import csv
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad.convert.image import check_geometry, read_canonical, to_int_image

NII = ".nii.gz"


@dataclass(frozen=True)
class Scan:
    """A CT as an int16 HU array indexed ``[z, y, x]`` (identity direction) and boolean masks named ``task/class``."""

    ct: np.ndarray
    spacing: tuple[float, float, float]  # x, y, z in mm
    masks: dict[str, np.ndarray]

    @property
    def voxel_mm3(self) -> float:
        return float(np.prod(self.spacing))

    @property
    def pixel_mm2(self) -> float:
        return self.spacing[0] * self.spacing[1]


def read_ct(path: str | Path) -> sitk.Image:
    """Read a CT, canonicalise it and cast it to int16 HU."""
    return to_int_image(read_canonical(path, str(path)), str(path), np.int16, round_values=True)


def read_mask(path: str | Path, ct: sitk.Image, ct_name: str) -> sitk.Image:
    """Read a binary mask, canonicalise it, require the CT's grid and values 0/1; return it as uint8."""
    mask = read_canonical(path, str(path))
    check_geometry(mask, ct, str(path), ct_name)
    values = np.unique(sitk.GetArrayViewFromImage(mask))
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{path}: a mask must hold only 0 and 1, found {values[:10].tolist()}")
    return sitk.Cast(mask, sitk.sitkUInt8)


def class_name(path: Path) -> str:
    return path.name.removesuffix(NII)


def load_task(folder: Path, ct: sitk.Image, ct_name: str, task: str,
              classes: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Masks ``<folder>/<class>.nii.gz`` as boolean arrays named ``<task>/<class>`` (only ``classes`` if given)."""
    names = {f"{task}/{class_name(p)}": p for p in sorted(folder.glob(f"*{NII}"))}
    return {name: sitk.GetArrayFromImage(read_mask(p, ct, ct_name)).astype(bool)
            for name, p in names.items() if classes is None or name in classes}


def load_seg(seg: Path, ct: sitk.Image, ct_name: str, classes: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Masks of a TotalSegmentator-layout folder (``<task>/<class>.nii.gz``); all, or those named in ``classes``.

    A whole-body CT has over a hundred masks, so callers name the few they need to keep memory low.
    """
    if not seg.is_dir():
        raise FileNotFoundError(f"segmentation folder not found: {seg}")
    masks = {}
    for folder in sorted(p for p in seg.iterdir() if p.is_dir()):
        masks |= load_task(folder, ct, ct_name, folder.name, classes)
    if not masks:
        raise ValueError(f"no masks (<task>/<class>{NII}) in segmentation folder {seg}"
                         + ("" if classes is None else f" among {sorted(classes)}"))
    return masks


def scan_from(ct: sitk.Image, masks: dict[str, np.ndarray]) -> Scan:
    return Scan(sitk.GetArrayFromImage(ct), tuple(ct.GetSpacing()), masks)


def load_scan(ct: Path, seg: Path, classes: Collection[str] | None = None) -> Scan:
    """The CT and the masks of its segmentation folder (all, or those named in ``classes``)."""
    img = read_ct(ct)
    return scan_from(img, load_seg(Path(seg), img, str(ct), classes))


def read_class_map(tsv: Path) -> dict[int, str]:
    """A ``label<TAB>name`` table (TotalSegmentator's class map) as ``{label: name}``."""
    with open(tsv, newline="") as fh:
        return {int(row["label"]): row["name"] for row in csv.DictReader(fh, delimiter="\t")}


def split_multilabel(path: str | Path, class_map: dict[int, str], task: str = "total") -> dict[str, np.ndarray]:
    """Split a multilabel segmentation into canonical boolean masks ``<task>/<name>`` (labels absent stay out)."""
    labels = sitk.GetArrayFromImage(read_canonical(path, str(path)))
    unknown = set(np.unique(labels).tolist()) - set(class_map) - {0}
    if unknown:
        raise ValueError(f"{path}: labels {sorted(unknown)} are not in the class map")
    return {f"{task}/{name}": labels == label for label, name in class_map.items() if (labels == label).any()}
