"""Provenance records: inputs with checksums, output grids, software versions (as imported and as installed).

No run timestamps (a rerun gives the same file) and no identities: only the header values a computation used (the
SUV inputs) are kept.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

import pydicom
import SimpleITK as sitk

import wbrad


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
    """Versions as the imported modules report them."""
    return {"wbrad": wbrad.__version__, "SimpleITK": sitk.Version_VersionString(), "pydicom": pydicom.__version__}


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


def record(patient: str, timepoint: str, modality: str, inputs: dict[str, Any], outputs: dict[str, Any],
           **extra: Any) -> dict[str, Any]:
    """Assemble one provenance document."""
    return {"patient_id": patient, "timepoint": timepoint, "modality": modality,
            "inputs": inputs, "outputs": outputs, "software": software(),
            "software_versions": software_versions(), **extra}
