"""A CT and its segmentation masks as one canonical Scan (the masks read by ``wbrad.segmentation``)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad.image import read_canonical, to_int_image
from wbrad.segmentation import load_seg


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


def scan_from(ct: sitk.Image, masks: dict[str, np.ndarray]) -> Scan:
    return Scan(sitk.GetArrayFromImage(ct), tuple(ct.GetSpacing()), masks)


def load_scan(ct: Path, seg: Path, classes: Collection[str] | None = None) -> Scan:
    """The CT and the masks of its segmentation folder (all, or those named in ``classes``)."""
    img = read_ct(ct)
    return scan_from(img, load_seg(Path(seg), img, str(ct), classes))
