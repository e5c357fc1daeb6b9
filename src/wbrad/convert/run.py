"""Entry points of the convert stage: CT (+ lesion map) and PET to canonical NIfTI with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from wbrad.convert.dicom import is_dicom, read_series_headers, read_series_pixels
from wbrad.convert.provenance import input_record, record
from wbrad.convert.rtstruct import DEFAULT_ROI_PATTERN, rasterise, read_rtstruct
from wbrad.convert.seg import is_seg, seg_labels
from wbrad.convert.suv import instance_metadata, suv_factors
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


def _where(patient: str, timepoint: str, path: str | Path) -> str:
    return f"{patient} {timepoint} {path}"


def load_ct(image: str | Path, name: str) -> sitk.Image:
    """Read a CT, canonicalise and cast to int16 HU (rounded)."""
    return to_int_image(read_canonical(image, name), name, np.int16, round_values=True)


def load_lesions(lesions: str | Path, ct: sitk.Image, name: str, ct_name: str) -> sitk.Image:
    """Read a lesion label map, canonicalise, require integers on the CT grid; return it as uint16."""
    labels = read_canonical(lesions, name)
    check_geometry(labels, ct, name, ct_name)
    return to_int_image(labels, name, np.uint16, round_values=False)


def load_ct_dicom_lesions(image: str | Path, lesions: str | Path, name: str, roi_pattern: str) -> tuple[
        sitk.Image, sitk.Image, dict]:
    """A CT and its RTSTRUCT or SEG as a label map on the CT's own grid, both canonicalised; plus the ROI record."""
    series = read_series_headers(image, name) if Path(image).is_dir() else None
    raw = read_series_pixels(series, name) if series else read_image(image)
    validate(raw, name)
    if is_seg(lesions):
        if series is None:
            raise ValueError(f"{name}: a DICOM SEG ({lesions}) needs the CT as a DICOM series, not a NIfTI")
        result = seg_labels(lesions, series, raw, roi_pattern, name)
    else:
        frame = str(series.headers[0].get("FrameOfReferenceUID", "")) or None if series else None
        result = rasterise(read_rtstruct(lesions, name), raw, roi_pattern, f"{name} RTSTRUCT {lesions}", frame)
    ct = to_int_image(canonicalise(raw), name, np.int16, round_values=True)
    rois = {"rois": {str(k): v for k, v in result.rois.items()}, "overlap_voxels": result.overlap_voxels}
    return ct, canonicalise(result.labels), rois


def convert_ct(image: str | Path, lesions: str | Path | None, out_ct: Path, out_lesions: Path, provenance: Path,
               patient: str, timepoint: str, roi_pattern: str = DEFAULT_ROI_PATTERN) -> None:
    """Write ``ct.nii.gz`` (int16 HU) and ``lesions.nii.gz`` (uint16; all zero when ``lesions`` is None).

    ``lesions`` is a label map (NIfTI), a DICOM RTSTRUCT (file or folder) or a DICOM SEG file, whose ROIs or
    segments matching ``roi_pattern`` become labels (see :mod:`wbrad.convert.rtstruct`).
    """
    name = _where(patient, timepoint, image)
    rois: dict = {}
    if lesions is not None and is_dicom(lesions):
        ct, labels, rois = load_ct_dicom_lesions(image, lesions, name, roi_pattern)
    else:
        ct = load_ct(image, name)
        if lesions is None:
            labels = sitk.Image(ct.GetSize(), sitk.sitkUInt16)
            labels.CopyInformation(ct)
        else:
            labels = load_lesions(lesions, ct, _where(patient, timepoint, lesions), str(image))
    write_image(ct, out_ct)
    write_image(labels, out_lesions)
    n_lesions = len(np.setdiff1d(np.unique(sitk.GetArrayViewFromImage(labels)), [0]))
    write_json(record(patient, timepoint, "CT",
                      inputs={"image": input_record(image), "lesions": input_record(lesions)},
                      outputs={"ct": {"file": Path(out_ct).name, **grid_info(ct)},
                               "lesions": {"file": Path(out_lesions).name, "n_lesions": n_lesions, **rois}}),
               provenance)


def load_pet_suv(image: str | Path, name: str, suv: dict[str, Any]) -> tuple[sitk.Image, dict[str, Any]]:
    """A PET as float32 SUV, canonicalised, and the SUV record for provenance.

    A DICOM series is scaled with the QIBA factors (``suv``: ``mode``, ``lbm_formula``, ``overrides``, see
    :func:`wbrad.convert.suv.suv_factors`); a NIfTI must already hold SUVbw.
    """
    if not Path(image).is_dir():
        pet = sitk.Cast(read_canonical(image, name), sitk.sitkFloat32)
        return pet, {"units": "already SUV (NIfTI input)", "factor": 1.0}
    series = read_series_headers(image, name)
    result = suv_factors([instance_metadata(h) for h in series.headers], f"{name}: {series.label}",
                         suv.get("mode", "bw"), suv.get("lbm_formula", "janmahasatian"), suv.get("overrides"))
    raw = read_series_pixels(series, name, float_pixels=True)
    arr = validate(raw, name) * np.asarray(result.factors)[:, None, None]  # slices are in the series' order
    pet = sitk.GetImageFromArray(arr.astype(np.float32))
    pet.CopyInformation(raw)
    factors = sorted(set(result.factors))
    return canonicalise(pet), {"mode": result.mode, "factor": factors[0] if len(factors) == 1 else factors,
                               "inputs": result.inputs}


def convert_pet(image: str | Path, ct: Path, out_pet: Path, out_pet_ct: Path, provenance: Path, patient: str,
                timepoint: str, suv: dict[str, Any] | None = None) -> None:
    """Write ``pet_suv.nii.gz`` (float32 SUV, own grid) and ``pet_suv_ct.nii.gz`` (linear onto the CT grid)."""
    name = _where(patient, timepoint, image)
    pet, suv_record = load_pet_suv(image, name, suv or {})
    ct_img = sitk.ReadImage(str(ct))
    validate(ct_img, _where(patient, timepoint, ct))
    pet_ct = resample_onto(pet, ct_img)
    write_image(pet, out_pet)
    write_image(pet_ct, out_pet_ct)
    write_json(record(patient, timepoint, "PT",
                      inputs={"image": input_record(image), "ct": input_record(ct)},
                      outputs={"pet_suv": {"file": Path(out_pet).name, **grid_info(pet)},
                               "pet_suv_ct": {"file": Path(out_pet_ct).name, **grid_info(pet_ct)}},
                      suv=suv_record),
               provenance)
