"""Entry points of the convert stage: CT (+ lesion map) and PET to canonical NIfTI with provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad.convert.image import (check_geometry, grid_info, read_canonical, resample_onto, to_int_image,
                                 validate, write_image)
from wbrad.convert.provenance import input_record, record
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


def convert_ct(image: str | Path, lesions: str | Path | None, out_ct: Path, out_lesions: Path, provenance: Path,
               patient: str, timepoint: str) -> None:
    """Write ``ct.nii.gz`` (int16 HU) and ``lesions.nii.gz`` (uint16; all zero when ``lesions`` is None)."""
    ct = load_ct(image, _where(patient, timepoint, image))
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
                               "lesions": {"file": Path(out_lesions).name, "n_lesions": n_lesions}}),
               provenance)


def convert_pet(image: str | Path, ct: Path, out_pet: Path, out_pet_ct: Path, provenance: Path, patient: str,
                timepoint: str) -> None:
    """Write ``pet_suv.nii.gz`` (float32 SUV, own grid) and ``pet_suv_ct.nii.gz`` (linear onto the CT grid)."""
    name = _where(patient, timepoint, image)
    if Path(image).is_dir():
        raise NotImplementedError(f"{name}: SUV conversion of DICOM PET is not implemented yet; give a NIfTI in SUV")
    pet = sitk.Cast(read_canonical(image, name), sitk.sitkFloat32)
    ct_img = sitk.ReadImage(str(ct))
    validate(ct_img, _where(patient, timepoint, ct))
    pet_ct = resample_onto(pet, ct_img)
    write_image(pet, out_pet)
    write_image(pet_ct, out_pet_ct)
    write_json(record(patient, timepoint, "PT",
                      inputs={"image": input_record(image), "ct": input_record(ct)},
                      outputs={"pet_suv": {"file": Path(out_pet).name, **grid_info(pet)},
                               "pet_suv_ct": {"file": Path(out_pet_ct).name, **grid_info(pet_ct)}},
                      suv={"units": "already SUV (NIfTI input)", "factor": 1.0}),
               provenance)
