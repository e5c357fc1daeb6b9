"""Image reading, canonicalisation, validation, and the one check that an image is on another's grid (every stage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad.convert.nifti import read_nifti
from wbrad.io import atomic_path

# The one tolerance for "on exactly the image's grid": spacing and origin in mm, direction cosines unitless. NIfTI
# stores them as float32 (about 3e-5 mm at 500 mm), so 1e-3 accepts the same grid written twice and nothing else.
GEOMETRY_TOL = 1e-3


def read_image(path: str | Path, name: str = "") -> sitk.Image:
    """Read a NIfTI file or a DICOM series folder, checked whole (see ``read_nifti``, ``read_series_pixels``);
    errors start with ``name`` (e.g. patient and timepoint) and the path."""
    if not Path(path).is_dir():
        return read_nifti(path, name)
    from wbrad.convert.dicom import read_dicom_series

    return read_dicom_series(path, name)


IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # the canonical direction, as SimpleITK returns it


def canonicalise(img: sitk.Image) -> sitk.Image:
    """Permute/flip axes to the identity (LPS) direction; voxel values are unchanged, the file's metadata dictionary
    is dropped (as DICOMOrient drops it). An image already in that direction is returned itself, its metadata
    erased, rather than as DICOMOrient's copy of every voxel."""
    if img.GetDirection() != IDENTITY:
        return sitk.DICOMOrient(img, "LPS")
    for key in img.GetMetaDataKeys():
        img.EraseMetaData(key)
    return img


def read_canonical(path: str | Path, name: str) -> sitk.Image:
    """Read, validate and canonicalise an image; ``name`` identifies it in error messages."""
    return validated_canonical(read_image(path, name), name)


def validated_canonical(img: sitk.Image, name: str) -> sitk.Image:
    """``read_canonical`` of an image already read."""
    validate(img, name)
    return canonicalise(img)


def validate(img: sitk.Image, name: str) -> np.ndarray:
    """Check ``img`` is 3D, scalar, with positive spacing and finite values; return its array view."""
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{name}: expected a 3D scalar image, got {img.GetDimension()}D "
                         f"with {img.GetNumberOfComponentsPerPixel()} components")
    if min(img.GetSpacing()) <= 0:
        raise ValueError(f"{name}: spacing must be positive, got {img.GetSpacing()}")
    arr = sitk.GetArrayViewFromImage(img)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: {np.count_nonzero(~np.isfinite(arr))} non-finite voxel values")
    return arr


def geometry_mismatch(img: sitk.Image, ref: sitk.Image, tol: float = GEOMETRY_TOL) -> str | None:
    """Describe how ``img``'s grid differs from ``ref``'s (size, spacing, origin, direction), or None if equal."""
    if img.GetSize() != ref.GetSize():
        return f"size {img.GetSize()} != {ref.GetSize()}"
    for what in ("Spacing", "Origin", "Direction"):
        a, b = (np.asarray(getattr(i, f"Get{what}")()) for i in (img, ref))
        if not np.allclose(a, b, rtol=0, atol=tol):
            return f"{what.lower()} {a.round(6).tolist()} != {b.round(6).tolist()}"
    return None


def check_geometry(img: sitk.Image, ref: sitk.Image, name: str, ref_name: str) -> None:
    """Raise if ``img`` (called ``name``) is not on ``ref``'s grid; the message names both and the mismatch."""
    if (why := geometry_mismatch(img, ref)) is not None:
        raise ValueError(f"{name} is not on the geometry of {ref_name}: {why}")


def to_int_image(img: sitk.Image, name: str, dtype: type[np.integer], round_values: bool) -> sitk.Image:
    """Cast to an integer pixel type, checking the range; non-integer values are rounded or an error."""
    arr = validate(img, name)
    info = np.iinfo(dtype)
    if not np.issubdtype(arr.dtype, np.integer):
        rounded = np.rint(arr)
        if not round_values and not np.array_equal(arr, rounded):
            raise ValueError(f"{name}: label map must hold integers, found non-integer values")
        arr = rounded
    lo, hi = arr.min(), arr.max()
    if lo < info.min or hi > info.max:
        raise ValueError(f"{name}: values {lo}..{hi} outside the {np.dtype(dtype).name} range {info.min}..{info.max}")
    out = sitk.GetImageFromArray(arr.astype(dtype))
    out.CopyInformation(img)
    return out


def resample_onto(img: sitk.Image, ref: sitk.Image) -> sitk.Image:
    """Linearly resample ``img`` onto ``ref``'s grid as float32; points outside ``img`` become 0."""
    return sitk.Resample(img, ref, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def grid_info(img: sitk.Image) -> dict[str, list]:
    """Size, spacing and origin of an image, for provenance."""
    return {"size": list(img.GetSize()), "spacing": list(img.GetSpacing()), "origin": list(img.GetOrigin())}


def write_image(img: sitk.Image, path: str | Path) -> None:
    """Write a compressed image atomically, with its integrity record (``voxels``)."""
    with atomic_path(path, voxels=img.GetNumberOfPixels()) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=True)
