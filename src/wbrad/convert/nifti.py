"""Read NIfTI images."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk


def _check_finite_on_disk(path: Path) -> None:
    """ITK's NIfTI reader turns NaN/inf into 0 silently, so float NIfTI data are checked with nibabel first."""
    img = nib.load(path)
    if np.issubdtype(img.get_data_dtype(), np.floating):
        bad = np.count_nonzero(~np.isfinite(np.asanyarray(img.dataobj)))
        if bad:
            raise ValueError(f"{path}: {bad} non-finite voxel values")


def read_nifti(path: str | Path) -> sitk.Image:
    """Read a NIfTI (or any single-file format SimpleITK knows) image, rejecting non-finite values."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.name.endswith((".nii", ".nii.gz")):
        _check_finite_on_disk(path)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
