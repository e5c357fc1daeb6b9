"""Index a DICOM export from headers only (pydicom ``stop_before_pixels``): one row per series, or RTSTRUCT file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

COLUMNS = ["original_patient_id", "study_date", "study_uid", "series_uid", "modality", "description",
           "slice_thickness_mm", "n_slices", "kernel", "frame_of_reference", "axial", "z_coverage_mm",
           "attenuation_corrected", "n_folders", "path"]
HEADER_TAGS = ["PatientID", "StudyDate", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesDescription",
               "SliceThickness", "ConvolutionKernel", "FrameOfReferenceUID", "ImageOrientationPatient",
               "ImagePositionPatient", "CorrectedImage", "ReferencedFrameOfReferenceSequence"]


def _headers(root: Path) -> Iterator[tuple[Path, Dataset]]:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            yield path, pydicom.dcmread(path, stop_before_pixels=True, specific_tags=HEADER_TAGS)
        except InvalidDicomError:
            continue


def _text(value: object) -> str:
    return "" if value is None else "\\".join(map(str, value)) if isinstance(value, (list, tuple)) or \
        type(value).__name__ == "MultiValue" else str(value)


def _series_row(files: list[Path], headers: list[Dataset]) -> dict:
    first = headers[0]
    row = {"original_patient_id": str(first.get("PatientID", "")), "study_date": str(first.get("StudyDate", "")),
           "study_uid": str(first.get("StudyInstanceUID", "")), "series_uid": str(first.SeriesInstanceUID),
           "modality": str(first.get("Modality", "")), "description": str(first.get("SeriesDescription", "")),
           "kernel": _text(first.get("ConvolutionKernel")), "n_slices": len(headers)}
    if row["modality"] == "RTSTRUCT":
        frames = [str(r.FrameOfReferenceUID) for r in first.get("ReferencedFrameOfReferenceSequence", [])]
        return {**row, "frame_of_reference": "\\".join(frames), "n_folders": 1, "path": str(files[0]), "n_slices": 0}
    orientation = np.array([float(v) for v in first.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])])
    normal = np.cross(orientation[:3], orientation[3:])
    positions = [float(np.dot(normal, [float(v) for v in h.ImagePositionPatient])) for h in headers
                 if "ImagePositionPatient" in h]
    folders = sorted({str(f.parent) for f in files})
    return {**row, "slice_thickness_mm": float(first.get("SliceThickness") or np.nan),
            "frame_of_reference": str(first.get("FrameOfReferenceUID", "")),
            "axial": bool(abs(abs(normal[2]) - 1) < 1e-3),
            "z_coverage_mm": float(max(positions) - min(positions)) if positions else np.nan,
            "attenuation_corrected": "ATTN" in _text(first.get("CorrectedImage")).split("\\"),
            "n_folders": len(folders), "path": folders[0]}


def index_export(root: str | Path) -> pd.DataFrame:
    """One row per image series (its folder in ``path``) and per RTSTRUCT file, in the columns of ``COLUMNS``."""
    groups: dict[str, tuple[list[Path], list[Dataset]]] = {}
    for path, ds in _headers(Path(root)):
        if "SeriesInstanceUID" not in ds:
            continue
        key = str(path) if ds.get("Modality") == "RTSTRUCT" else str(ds.SeriesInstanceUID)
        files, headers = groups.setdefault(key, ([], []))
        files.append(path)
        headers.append(ds)
    rows = [_series_row(files, headers) for files, headers in groups.values()]
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["original_patient_id", "study_date", "modality",
                                                            "series_uid"], ignore_index=True)
