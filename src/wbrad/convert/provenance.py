"""Provenance records: inputs with checksums, output grids, software versions (as imported and as installed).

No run timestamps (a rerun gives the same file) and no identities: only the header values a computation used (the
SUV inputs, the slice geometry of a DICOM series) are kept.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

import SimpleITK as sitk

import wbrad
from wbrad.convert.dicom import SliceGeometry


def sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of a folder's files' contents concatenated in sorted relative-path order."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def input_record(path: str | Path | None) -> dict[str, str] | None:
    """Path as given plus its checksum; None for an absent optional input."""
    return None if path is None else {"path": str(path), "sha256": sha256(path)}


# The distributions whose resolved versions each record names (pip's names; the lock file pins them).
DISTRIBUTIONS = ("wbrad", "snakemake", "SimpleITK", "pyradiomics-bhklab", "numpy", "scipy", "pandas", "scikit-learn",
                 "scikit-survival", "nibabel", "pydicom", "highdicom")


def software() -> dict[str, str]:
    """Versions as the imported modules report them (pydicom's from its metadata, the same string as its
    ``__version__``, so that a job on NIfTI images need not import it)."""
    return {"wbrad": wbrad.__version__, "SimpleITK": sitk.Version_VersionString(),
            "pydicom": metadata.version("pydicom")}


def software_versions() -> dict[str, str | None]:
    """{distribution: installed version} from the installed packages' metadata (nothing is imported); None for one
    that is not installed."""
    versions: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _rounded(value: float) -> float:
    return round(float(value), 6) + 0.0  # + 0.0: no "-0.0" in the file


def slice_geometry(geometry: SliceGeometry | None) -> dict[str, Any] | None:
    """How a DICOM series' slices were placed (:mod:`wbrad.convert.dicom`): nominal spacing, the largest gap
    deviation (mm, fraction of the spacing, and the slice below it), the tolerance, beds, overlapping slices left out
    and whether the slices were resampled onto the regular grid; None for a NIfTI input. Lengths in mm, to 1e-6."""
    if geometry is None:
        return None
    deviation, at = geometry.largest_deviation()
    return {"spacing_mm": _rounded(geometry.spacing), "slices": len(geometry.positions),
            "max_gap_deviation_mm": _rounded(deviation), "max_gap_deviation": _rounded(deviation / geometry.spacing),
            "max_gap_deviation_at_mm": _rounded(at) if _rounded(deviation) else None,
            "tolerance": geometry.tolerance, "beds": geometry.beds,
            "dropped_slices_mm": [_rounded(p) for p in geometry.dropped], "resampled": geometry.resampled,
            "interpolation": "linear (labels: nearest slice)" if geometry.resampled else None,
            "grid_slices": len(geometry.grid)}


def record(patient: str, timepoint: str, modality: str, inputs: dict[str, Any], outputs: dict[str, Any],
           **extra: Any) -> dict[str, Any]:
    """Assemble one provenance document."""
    return {"patient_id": patient, "timepoint": timepoint, "modality": modality,
            "inputs": inputs, "outputs": outputs, "software": software(),
            "software_versions": software_versions(), **extra}
