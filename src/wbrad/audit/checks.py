"""Study checks before a run: inputs on disk, segmentation weights, PET SUV prerequisites, height, impossible records
(wbrad.records), and the L3 QC failures of body composition already computed. Nothing is run."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from wbrad import study
from wbrad.failures import UpstreamFailed
from wbrad.integrity import IntegrityError
from wbrad.io import read_tsv
from wbrad.records import BLOCKING, WARNING, record_problems
from wbrad.segmentation import TISSUE_TYPES


@dataclass(frozen=True)
class Problem:
    """One problem of the study; ``timepoint`` (or also ``patient``) is empty when it concerns every scan."""

    patient: str
    timepoint: str
    check: str
    severity: str
    detail: str


def missing_inputs(manifest: pd.DataFrame) -> list[Problem]:
    """Every image, lesion map and segmentation folder that the manifest names but the disk lacks."""
    problems = []
    for row in manifest.itertuples():
        for column in ("image", "lesions", "segmentation"):
            path = getattr(row, column, "")
            if path and not os.path.exists(path):
                problems.append(Problem(row.patient_id, row.timepoint, "inputs", BLOCKING,
                                        f"{row.modality} {column} not found: {path}"))
    return problems


def segmentation_sources(manifest: pd.DataFrame, config: dict[str, Any]) -> list[Problem]:
    """CT rows without the segmentation folder that the precomputed backend copies."""
    from wbrad.bodycomp.backends import unsegmented_scans

    return [
        Problem(
            patient,
            timepoint,
            "inputs",
            BLOCKING,
            "CT segmentation folder not named in the manifest (the precomputed backend needs one)",
        )
        for patient, timepoint in unsegmented_scans(manifest, config["segmentation"])
    ]


def segmentation_weights(config: dict[str, Any]) -> list[Problem]:
    """The configured backend's own preflight (weights, interpreter, licence) as one problem; [] when it is ready."""
    from wbrad.bodycomp.backends import configured_backend

    segmentation = config["segmentation"]
    backend = configured_backend(segmentation, config.get("bodycomp", {}).get("tissue_source", TISSUE_TYPES))
    messages = backend.preflight() if hasattr(backend, "preflight") else []
    detail = f"backend {segmentation['backend']} not ready: " + " | ".join(messages)
    return [Problem("", "", "segmentation weights", BLOCKING, detail)] if messages else []


def dicom_weight_kg(folder: Path) -> float | None:
    """PatientWeight (kg) from the first readable DICOM file of a series folder; None when absent or zero."""
    import pydicom

    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientWeight"])
        except pydicom.errors.InvalidDicomError:
            continue
        weight = header.get("PatientWeight")
        return float(weight) if weight else None
    return None


def pet_suv_prerequisites(manifest: pd.DataFrame, registry: pd.DataFrame) -> list[Problem]:
    """A body weight for every PET: the DICOM PatientWeight or the registry's weight_kg (NIfTI carries none).

    A DICOM PET without any weight cannot be converted to SUV (blocking); a NIfTI PET is taken as SUV already, so a
    missing weight only leaves it unverifiable (warning). One problem per patient, naming the scans.
    """
    problems = []
    pet = manifest[manifest.modality == study.PET]
    for patient, scans in pet.groupby("patient_id", sort=True):
        if patient in registry.index and pd.notna(registry.at[patient, "weight_kg"]):
            continue
        dicom = [row for row in scans.itertuples() if os.path.isdir(row.image)]
        unweighed = [row.timepoint for row in dicom if dicom_weight_kg(Path(row.image)) is None]
        nifti = [row.timepoint for row in scans.itertuples() if not os.path.isdir(row.image)]
        if unweighed or nifti:
            severity = BLOCKING if unweighed else WARNING
            where = ", ".join(unweighed + nifti)
            problems.append(
                Problem(
                    patient,
                    "",
                    "PET SUV",
                    severity,
                    f"no body weight for the PET at {where}: registry weight_kg is empty"
                    + (" and the DICOM has no PatientWeight" if unweighed else ""),
                )
            )
    return problems


def height_present(manifest: pd.DataFrame, registry: pd.DataFrame) -> list[Problem]:
    """Patients with CT scans but no registry height: their L3 muscle index (cm2/m2) will be NA."""
    patients = sorted(set(manifest.loc[manifest.modality == study.CT, "patient_id"]))
    return [
        Problem(p, "", "height", WARNING, "registry height_cm is empty: l3_smi_cm2m2 will be NA")
        for p in patients
        if p in registry.index and pd.isna(registry.at[p, "height_cm"])
    ]


def _bodycomp_qc(table: Path, patient: str, timepoint: str) -> list[Problem]:
    def problem(severity: str, detail: str) -> Problem:
        return Problem(patient, timepoint, "body composition QC", severity, detail)

    try:
        qc = read_tsv(table, dtype=str)
    except UpstreamFailed as err:
        return [problem(WARNING, f"not measured: {err.failure or err}")]
    except IntegrityError as err:
        return [problem(BLOCKING, str(err))]
    failed = qc[qc["qc_status"] == "failed"] if "qc_status" in qc else qc.iloc[:0]
    return [problem(WARNING, f"last run failed: {reason if isinstance(reason, str) else 'no reason given'}")
            for reason in failed.get("qc_reason", pd.Series([None] * len(failed)))]


def failed_bodycomp_qc(manifest: pd.DataFrame, results: Path = Path(study.RESULTS)) -> list[Problem]:
    """Scans whose last body-composition run failed its L3 checks (``qc_status`` failed), with the reason.

    Only results already on disk are read, through the verifying reader: a damaged table is a blocking problem, a
    failed placeholder (the scan failed at an earlier stage) a warning with its reason; an L3 failure is a warning,
    since the scan's other metrics stay valid.
    """
    problems = []
    for row in manifest[manifest.modality == study.CT].itertuples():
        table = study.result(results, study.BODYCOMP, patient=row.patient_id, timepoint=row.timepoint)
        if not table.exists():
            continue
        problems += _bodycomp_qc(table, row.patient_id, row.timepoint)
    return problems


def impossible_records(config: dict[str, Any], manifest: pd.DataFrame, registry: pd.DataFrame) -> list[Problem]:
    """The impossible records of ``wbrad.records`` (follow-up before baseline, scans after death, PFS > OS...), each
    a problem of its patient (and timepoint), with the severity the config's ``record_checks`` gives it."""
    found = record_problems(manifest, registry, study.Timepoints.from_config(config), config.get("record_checks"))
    return [Problem(**asdict(problem)) for problem in found]


def study_problems(config: dict[str, Any], manifest: pd.DataFrame, registry: pd.DataFrame) -> list[Problem]:
    """Every check, in a stable order."""
    return [
        *missing_inputs(manifest),
        *segmentation_sources(manifest, config),
        *segmentation_weights(config),
        *pet_suv_prerequisites(manifest, registry),
        *height_present(manifest, registry),
        *impossible_records(config, manifest, registry),
        *failed_bodycomp_qc(manifest),
    ]
