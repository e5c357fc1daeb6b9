"""Read a DICOM image series folder: headers with pydicom, geometry checks, pixels with SimpleITK/GDCM.

GDCM decodes the compressed transfer syntaxes (JPEG, JPEG 2000, JPEG-LS, RLE). Before reading pixels, the headers
are checked: one series, one orientation, no gantry tilt, slices evenly spaced (a missing slice is an error naming
the gap). Errors name the scan (``name``: patient, timepoint) and the series.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pydicom.misc
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

ORIENTATION_TOL = 1e-4
SPACING_RTOL = 0.01  # slice gaps may differ by 1 % (rounding of positions in the headers)


@dataclass
class DicomSeries:
    """The image instances of one series, sorted along the slice normal (feet to head for axial scans)."""

    folder: Path
    files: list[Path]
    headers: list[Dataset]
    positions: np.ndarray  # position of each slice along the normal, mm

    @property
    def label(self) -> str:
        first = self.headers[0]
        return (f"{first.get('Modality') or '?'} series '{first.get('SeriesDescription') or ''}' "
                f"(number {first.get('SeriesNumber') or '?'})")


def _read_headers(folder: Path, name: str) -> list[tuple[Path, Dataset]]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            continue
        if "ImagePositionPatient" in ds:
            found.append((path, ds))
    if not found:
        raise ValueError(f"{name}: no DICOM image files in {folder}")
    return found


def _slice_normal(headers: list[Dataset], name: str, folder: Path) -> np.ndarray:
    """The common slice normal; mixed orientations are an error."""
    orientations = np.array([[float(v) for v in ds.ImageOrientationPatient] for ds in headers])
    if np.abs(orientations - orientations[0]).max() > ORIENTATION_TOL:
        distinct = np.unique(orientations.round(4), axis=0)
        raise ValueError(f"{name}: mixed ImageOrientationPatient (0020,0037) in {folder}: {distinct.tolist()}")
    row, col = orientations[0, :3], orientations[0, 3:]
    return np.cross(row, col)


def is_dicom(path: str | Path) -> bool:
    """Whether ``path`` is a DICOM file or a folder (of DICOM files), rather than a NIfTI file."""
    path = Path(path)
    return path.is_dir() or (path.is_file() and pydicom.misc.is_dicom(path))


def read_series_headers(folder: str | Path, name: str) -> DicomSeries:
    """Headers of the single image series in ``folder`` (recursively), sorted and checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{name}: DICOM folder not found: {folder}")
    found = _read_headers(folder, name)
    uids = sorted({str(ds.SeriesInstanceUID) for _, ds in found})
    if len(uids) > 1:
        raise ValueError(f"{name}: {folder} holds {len(uids)} DICOM series, expected one: {', '.join(uids)}")
    normal = _slice_normal([ds for _, ds in found], name, folder)
    positions = np.array([np.dot(normal, [float(v) for v in ds.ImagePositionPatient]) for _, ds in found])
    order = np.argsort(positions, kind="stable")
    series = DicomSeries(folder, [found[i][0] for i in order], [found[i][1] for i in order], positions[order])
    check_geometry(series, name)
    return series


def check_geometry(series: DicomSeries, name: str) -> None:
    """Gantry tilt, duplicated positions and uneven slice spacing are errors naming the series and the tag."""
    where = f"{name}: {series.label}"
    tilts = {float(ds.get("GantryDetectorTilt") or 0) for ds in series.headers}
    if any(abs(t) > ORIENTATION_TOL for t in tilts):
        raise ValueError(f"{where}: gantry tilt {sorted(tilts)} degrees (GantryDetectorTilt (0018,1120)); "
                         f"tilted series are not supported, resample them first")
    corners = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in series.headers])
    if len(corners) > 1:
        offsets = corners - corners[0]
        normal = _slice_normal(series.headers, name, series.folder)
        in_plane = offsets - np.outer(offsets @ normal, normal)
        if np.abs(in_plane).max() > 0.01 * max(abs(series.positions[-1] - series.positions[0]), 1):
            raise ValueError(f"{where}: slice positions (ImagePositionPatient (0020,0032)) move within the image "
                             f"plane by up to {np.abs(in_plane).max():.2f} mm: a tilted or sheared series")
    gaps = np.diff(series.positions)
    if len(gaps) == 0:
        return
    if (gaps < 1e-3).any():
        at = series.positions[1:][gaps < 1e-3]
        raise ValueError(f"{where}: more than one slice at position(s) {np.round(at, 3).tolist()} mm along the "
                         f"normal (ImagePositionPatient (0020,0032))")
    step = float(np.median(gaps))
    uneven = np.flatnonzero(np.abs(gaps - step) > SPACING_RTOL * step)
    if uneven.size:
        k = uneven[0]
        missing = round(gaps[k] / step) - 1
        what = f"{missing} missing slice(s)" if missing >= 1 else "uneven slice spacing"
        raise ValueError(f"{where}: {what}: gap of {gaps[k]:.3f} mm between slices at {series.positions[k]:.3f} and "
                         f"{series.positions[k + 1]:.3f} mm (files {series.files[k].name}, "
                         f"{series.files[k + 1].name}) where the spacing is {step:.3f} mm")


def read_dicom_series(folder: str | Path, name: str = "") -> sitk.Image:
    """Read the single DICOM series in ``folder`` (rescale slope and intercept applied by GDCM); a PET, whose slope
    varies per slice, goes through ``read_series_pixels(..., float_pixels=True)``."""
    series = read_series_headers(folder, name or str(folder))
    return read_series_pixels(series, name)


def read_series_pixels(series: DicomSeries, name: str, float_pixels: bool = False) -> sitk.Image:
    """The pixels of checked ``series`` as one image, slices in the series' order."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in series.files])
    if float_pixels:
        reader.SetOutputPixelType(sitk.sitkFloat64)
    try:
        return reader.Execute()
    except RuntimeError as err:
        raise ValueError(f"{name}: cannot read the pixels of {series.label}: {err}") from err
