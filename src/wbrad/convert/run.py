"""Entry points of the convert stage: CT (+ lesion map) and PET to canonical NIfTI with provenance."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from wbrad.convert.dicom import (
    GAP_TOLERANCE,
    DicomSeries,
    SliceGeometry,
    is_dicom,
    read_series_headers,
    read_series_pixels,
    regularise,
    stack_points,
)
from wbrad.convert.provenance import input_record, record, slice_geometry
from wbrad.convert.rtstruct import DEFAULT_ROI_PATTERN, rasterise, read_rtstruct
from wbrad.failures import scan_data
from wbrad.image import (
    canonicalise,
    check_geometry,
    grid_info,
    read_canonical,
    read_image,
    resample_onto,
    to_int_image,
    validate,
    write_image,
)
from wbrad.io import write_json

if TYPE_CHECKING:
    from pydicom.dataset import Dataset


def _where(patient: str, timepoint: str, path: str | Path) -> str:
    return f"{patient} {timepoint} {path}"


def load_ct(image: str | Path, name: str, series: DicomSeries | None = None) -> sitk.Image:
    """Read a CT (the pixels of ``series`` on its regular grid where given), canonicalise and cast to int16 HU
    (rounded)."""
    if series is None:
        return to_int_image(read_canonical(image, name), name, np.int16, round_values=True)
    raw = regularise(read_series_pixels(series, name), series.geometry)
    validate(raw, name)
    return to_int_image(canonicalise(raw), name, np.int16, round_values=True)


def load_lesions(lesions: str | Path, ct: sitk.Image, name: str, ct_name: str) -> sitk.Image:
    """Read a lesion label map, canonicalise, require integers on the CT grid; return it as uint16."""
    labels = read_canonical(lesions, name)
    check_geometry(labels, ct, name, ct_name)
    return to_int_image(labels, name, np.uint16, round_values=False)


def _contours_on_stack(ds: Dataset, geometry: SliceGeometry, stack: sitk.Image) -> Dataset:
    """A copy of RTSTRUCT ``ds`` whose contour points lie on the slices of ``stack`` they were drawn on (see
    :func:`wbrad.convert.dicom.stack_points`), for a series resampled onto its regular grid afterwards."""
    from pydicom.valuerep import DSfloat

    moved = copy.deepcopy(ds)
    for roi in moved.get("ROIContourSequence", []):
        for contour in roi.get("ContourSequence", []):
            points = stack_points(np.asarray(contour.ContourData, float).reshape(-1, 3), geometry, stack)
            contour.ContourData = [DSfloat(v, auto_format=True) for v in points.ravel()]
    return moved


def load_ct_dicom_lesions(image: str | Path, series: DicomSeries | None, lesions: str | Path, name: str,
                          roi_pattern: str) -> tuple[sitk.Image, sitk.Image, dict]:
    """A CT and its RTSTRUCT or SEG as a label map on the CT's own grid, both canonicalised; plus the ROI record.

    The labels are made on the slices as read (``series``, a DICOM CT) and follow the CT onto its regular grid,
    from the nearest slice.
    """
    from wbrad.convert.seg import is_seg, seg_labels  # highdicom: only for DICOM lesions

    stack = read_series_pixels(series, name) if series else read_image(image)
    validate(stack, name)
    geometry = series.geometry if series else None
    if is_seg(lesions):
        if series is None:
            raise ValueError(f"{name}: a DICOM SEG ({lesions}) needs the CT as a DICOM series, not a NIfTI")
        result = seg_labels(lesions, series, stack, roi_pattern, name)
    else:
        structure = read_rtstruct(lesions, name)
        if geometry is not None and geometry.resampled:
            structure = _contours_on_stack(structure, geometry, stack)
        frame = str(series.headers[0].get("FrameOfReferenceUID", "")) or None if series else None
        result = rasterise(structure, stack, roi_pattern, f"{name} RTSTRUCT {lesions}", frame)
    ct = to_int_image(canonicalise(regularise(stack, geometry)), name, np.int16, round_values=True)
    rois = {"rois": {str(k): v for k, v in result.rois.items()}, "overlap_voxels": result.overlap_voxels}
    return ct, canonicalise(regularise(result.labels, geometry, nearest=True)), rois


def read_ct_inputs(image: str | Path, lesions: str | Path | None, name: str, patient: str, timepoint: str,
                   roi_pattern: str, slice_gap_tolerance: float
                   ) -> tuple[DicomSeries | None, sitk.Image, sitk.Image, dict]:
    """The DICOM series headers (None for a NIfTI), the CT, its lesion labels and the ROI record of ``convert_ct``."""
    series = read_series_headers(image, name, slice_gap_tolerance) if Path(image).is_dir() else None
    if lesions is not None and is_dicom(lesions):
        return series, *load_ct_dicom_lesions(image, series, lesions, name, roi_pattern)
    ct = load_ct(image, name, series)
    if lesions is None:
        labels = sitk.Image(ct.GetSize(), sitk.sitkUInt16)
        labels.CopyInformation(ct)
    else:
        labels = load_lesions(lesions, ct, _where(patient, timepoint, lesions), str(image))
    return series, ct, labels, {}


def convert_ct(image: str | Path, lesions: str | Path | None, out_ct: Path, out_lesions: Path, provenance: Path,
               patient: str, timepoint: str, roi_pattern: str = DEFAULT_ROI_PATTERN,
               slice_gap_tolerance: float = GAP_TOLERANCE) -> None:
    """Write ``ct.nii.gz`` (int16 HU) and ``lesions.nii.gz`` (uint16; all zero when ``lesions`` is None).

    ``lesions`` is a label map (NIfTI), a DICOM RTSTRUCT (file or folder) or a DICOM SEG file, whose ROIs or
    segments matching ``roi_pattern`` become labels (see :mod:`wbrad.convert.rtstruct`). A DICOM CT is read onto its
    regular grid, uneven gaps within ``slice_gap_tolerance`` of the spacing resampled (:mod:`wbrad.convert.dicom`).
    An error in the inputs (a missing or cut-off file, NaN, labels on another grid) is a ScanDataError.
    """
    name = _where(patient, timepoint, image)
    with scan_data(f"{patient} {timepoint}"):  # every error reading or checking the inputs is this scan's
        series, ct, labels, rois = read_ct_inputs(image, lesions, name, patient, timepoint, roi_pattern,
                                                  slice_gap_tolerance)
    write_image(ct, out_ct)
    write_image(labels, out_lesions)
    n_lesions = len(np.setdiff1d(np.unique(sitk.GetArrayViewFromImage(labels)), [0]))
    write_json(record(patient, timepoint, "CT",
                      inputs={"image": input_record(image), "lesions": input_record(lesions)},
                      outputs={"ct": {"file": Path(out_ct).name, **grid_info(ct)},
                               "lesions": {"file": Path(out_lesions).name, "n_lesions": n_lesions, **rois}},
                      slice_geometry=slice_geometry(series.geometry if series else None)),
               provenance)


def load_pet_suv(image: str | Path, name: str, suv: dict[str, Any], slice_gap_tolerance: float = GAP_TOLERANCE
                 ) -> tuple[sitk.Image, dict[str, Any], SliceGeometry | None]:
    """A PET as float32 SUV, canonicalised, the SUV record for provenance and the slice geometry (None for NIfTI).

    A DICOM series is scaled with the QIBA factors (``suv``: ``mode``, ``lbm_formula``, ``overrides``, see
    :func:`wbrad.convert.suv.suv_factors`), slice by slice, then put on its regular grid; a NIfTI must already hold
    SUVbw.
    """
    if not Path(image).is_dir():
        pet = sitk.Cast(read_canonical(image, name), sitk.sitkFloat32)
        return pet, {"units": "already SUV (NIfTI input)", "factor": 1.0}, None
    from wbrad.convert.suv import instance_metadata, suv_factors  # pydicom: only for a DICOM PET

    series = read_series_headers(image, name, slice_gap_tolerance)
    result = suv_factors([instance_metadata(h) for h in series.headers], f"{name}: {series.label}",
                         suv.get("mode", "bw"), suv.get("lbm_formula", "janmahasatian"), suv.get("overrides"))
    raw = read_series_pixels(series, name, float_pixels=True)
    arr = validate(raw, name) * np.asarray(result.factors)[:, None, None]  # slices are in the series' order
    pet = sitk.GetImageFromArray(arr.astype(np.float32))
    pet.CopyInformation(raw)
    factors = sorted(set(result.factors))
    return canonicalise(regularise(pet, series.geometry)), {
        "mode": result.mode, "factor": factors[0] if len(factors) == 1 else factors, "inputs": result.inputs
    }, series.geometry


def convert_pet(image: str | Path, ct: Path, out_pet: Path, out_pet_ct: Path, provenance: Path, patient: str,
                timepoint: str, suv: dict[str, Any] | None = None, slice_gap_tolerance: float = GAP_TOLERANCE) -> None:
    """Write ``pet_suv.nii.gz`` (float32 SUV, own grid) and ``pet_suv_ct.nii.gz`` (linear onto the CT grid)."""
    name = _where(patient, timepoint, image)
    with scan_data(f"{patient} {timepoint}"):  # every error reading or checking the inputs is this scan's
        pet, suv_record, geometry = load_pet_suv(image, name, suv or {}, slice_gap_tolerance)
        ct_img = read_image(ct, f"{patient} {timepoint}")
        validate(ct_img, _where(patient, timepoint, ct))
    pet_ct = resample_onto(pet, ct_img)
    write_image(pet, out_pet)
    write_image(pet_ct, out_pet_ct)
    write_json(record(patient, timepoint, "PT",
                      inputs={"image": input_record(image), "ct": input_record(ct)},
                      outputs={"pet_suv": {"file": Path(out_pet).name, **grid_info(pet)},
                               "pet_suv_ct": {"file": Path(out_pet_ct).name, **grid_info(pet_ct)}},
                      suv=suv_record, slice_geometry=slice_geometry(geometry)),
               provenance)
