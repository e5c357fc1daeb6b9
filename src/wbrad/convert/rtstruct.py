"""Rasterise DICOM RTSTRUCT contours onto the grid of the image they were drawn on.

A voxel belongs to an ROI when its centre lies inside the ROI's closed planar contours on its slice; several
contours on one slice combine by the even-odd rule, so a contour inside another is a hole. ROI names map to labels
through a regular expression: a named group ``label`` gives the label (stable across timepoints, e.g.
``lesion_3`` is label 3 at every scan); without it, matching ROIs are numbered 1, 2, ... in name order.
An RTSTRUCT without ROIs is a scan without lesions; ROIs of which none matches the pattern are an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

if TYPE_CHECKING:  # pydicom and matplotlib are imported where an RTSTRUCT is read: most scans are not one
    from pydicom.dataset import Dataset

SLICE_TOL = 0.05  # a contour must lie within 5 % of the slice spacing of a slice centre
DEFAULT_ROI_PATTERN = r"(?i)^lesion[ _-]?(?P<label>\d+)$"


@dataclass
class Rasterised:
    labels: sitk.Image  # uint16 on the reference grid
    rois: dict[int, str]  # label -> ROI name
    overlap_voxels: int  # voxels claimed by more than one ROI (the later ROI in the file is kept)


def read_rtstruct(path: str | Path, name: str) -> Dataset:
    """The RTSTRUCT dataset of a file (or the single RTSTRUCT file in a folder)."""
    import pydicom

    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    found = [ds for ds in (pydicom.dcmread(f, force=True) for f in files) if ds.get("Modality") == "RTSTRUCT"]
    if len(found) != 1:
        raise ValueError(f"{name}: expected one RTSTRUCT in {path}, found {len(found)}")
    return found[0]


def roi_labels(names: dict[int, str], pattern: str, name: str) -> dict[int, int]:
    """ROI (or SEG segment) number -> label for the names matching ``pattern`` (see the module's docstring)."""
    if not names:
        return {}  # no ROI at all: a scan without lesions (e.g. all gone at follow-up)
    regex = re.compile(pattern)
    matched = {number: m.groupdict().get("label") for number, roi in names.items()
               if (m := regex.search(roi)) is not None}
    if not matched:
        raise ValueError(f"{name}: no ROI name matches {pattern!r}; ROIs are {sorted(names.values())}")
    if all(label is None for label in matched.values()):
        in_name_order = sorted(matched, key=lambda number: names[number])
        return {number: k for k, number in enumerate(in_name_order, start=1)}
    labels = {number: int(label) for number, label in matched.items()}
    if len(set(labels.values())) < len(labels) or min(labels.values()) < 1:
        raise ValueError(f"{name}: ROI names {sorted(names[n] for n in matched)} give duplicate or zero labels "
                         f"with {pattern!r}")
    return labels


def _contour_mask(points_mm: np.ndarray, reference: sitk.Image, name: str) -> tuple[int, np.ndarray]:
    """The slice index of one closed planar contour and its filled [y, x] mask."""
    origin = np.array(reference.GetOrigin())
    matrix = np.array(reference.GetDirection()).reshape(3, 3) * np.array(reference.GetSpacing())
    index = np.linalg.solve(matrix, (points_mm - origin).T).T  # continuous (i, j, k) per point
    k = float(np.median(index[:, 2]))
    if np.abs(index[:, 2] - round(k)).max() > SLICE_TOL:
        raise ValueError(f"{name}: a contour lies between slices (index {k:.3f}) or is not planar on the image grid")
    if not 0 <= round(k) < reference.GetSize()[2]:
        raise ValueError(f"{name}: a contour at slice index {k:.1f} lies outside the referenced image")
    from matplotlib.path import Path as Polygon

    nx, ny = reference.GetSize()[:2]
    yy, xx = np.mgrid[:ny, :nx]
    inside = Polygon(index[:, :2]).contains_points(np.column_stack([xx.ravel(), yy.ravel()]))
    return round(k), inside.reshape(ny, nx)


def rasterise(ds: Dataset, reference: sitk.Image, pattern: str, name: str,
              frame_of_reference: str | None = None) -> Rasterised:
    """Label map of the ROIs matching ``pattern`` on ``reference``'s grid (uint16, 0 background).

    ``frame_of_reference``, the image's FrameOfReferenceUID, is checked against the RTSTRUCT's when given.
    """
    frame = frame_of_reference
    referenced = {str(r.FrameOfReferenceUID) for r in ds.get("ReferencedFrameOfReferenceSequence", [])}
    if frame and referenced and frame not in referenced:
        raise ValueError(f"{name}: RTSTRUCT frame of reference {sorted(referenced)} is not the image's {frame}")
    names = {int(r.ROINumber): str(r.ROIName) for r in ds.StructureSetROISequence}
    wanted = roi_labels(names, pattern, name)
    arr = np.zeros(reference.GetSize()[::-1], np.uint16)
    claimed = np.zeros(arr.shape, np.uint8)
    for roi in ds.ROIContourSequence:
        number = int(roi.ReferencedROINumber)
        if number not in wanted:
            continue
        mask = np.zeros(arr.shape, bool)
        for contour in roi.get("ContourSequence", []):
            if contour.ContourGeometricType not in ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR"):
                continue
            points = np.asarray(contour.ContourData, float).reshape(-1, 3)
            k, filled = _contour_mask(points, reference, f"{name} ROI '{names[number]}'")
            mask[k] ^= filled
        arr[mask] = wanted[number]
        claimed += mask
    labels = sitk.GetImageFromArray(arr)
    labels.CopyInformation(reference)
    return Rasterised(labels, {wanted[n]: names[n] for n in wanted}, int((claimed > 1).sum()))
