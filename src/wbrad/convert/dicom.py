"""Read a DICOM series folder with SimpleITK/GDCM."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk


def read_dicom_series(folder: str | Path) -> sitk.Image:
    """Read the single DICOM series in ``folder`` (rescale slope/intercept applied by GDCM).

    A folder holding several series is an error naming their SeriesInstanceUIDs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"DICOM folder not found: {folder}")
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise ValueError(f"no DICOM series found in {folder}")
    if len(series) > 1:
        raise ValueError(f"{folder} holds {len(series)} DICOM series, expected one: {', '.join(series)}")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0]))
    try:
        return reader.Execute()
    except RuntimeError as err:
        raise ValueError(f"cannot read DICOM series in {folder}: {err}") from err
