# Loads and validates the config, the imaging manifest and the clinical registry once; input functions for the rules.
import os
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

RESULTS = "results"


def _read_manifest(path: str) -> pd.DataFrame:
    """The manifest with paths made relative to the working directory and (patient, timepoint, modality) as index."""
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    validate(sheet.replace("", None), "../schemas/manifest.schema.yaml")
    base = Path(path).parent
    for column in ("image", "lesions", "segmentation"):
        if column in sheet:
            sheet[column] = [os.path.normpath(base / p) if p else "" for p in sheet[column]]
    key = ["patient_id", "timepoint", "modality"]
    duplicated = sheet[sheet.duplicated(key, keep=False)]
    if not duplicated.empty:
        raise ValueError(f"{path}: more than one scan for {duplicated[key].drop_duplicates().values.tolist()}")
    return sheet.set_index(key, drop=False).sort_index()


def _read_registry(path: str) -> pd.DataFrame:
    registry = pd.read_csv(path, dtype={"patient_id": str})
    validate(registry, "../schemas/registry.schema.yaml")
    if registry.patient_id.duplicated().any():
        raise ValueError(f"{path}: duplicated patient_id {registry.patient_id[registry.patient_id.duplicated()].tolist()}")
    return registry.set_index("patient_id", drop=False)


MANIFEST = _read_manifest(config["manifest"])
REGISTRY = _read_registry(config["registry"])
BASELINE = config["timepoints"]["baseline"]
FOLLOWUP = config["timepoints"]["followup"]

_unregistered = sorted(set(MANIFEST.patient_id) - set(REGISTRY.patient_id))
if _unregistered:
    raise ValueError(f"{config['manifest']}: patients not in the registry {config['registry']}: {_unregistered}")

CT_SCANS = MANIFEST.xs("CT", level="modality", drop_level=False)
PATIENTS = sorted(CT_SCANS.patient_id.unique())


wildcard_constraints:
    patient=r"[A-Za-z0-9_-]+",
    timepoint=r"[A-Za-z0-9_-]+",
    modality=r"ct|pet",
    endpoint=r"[A-Za-z0-9_-]+",


def workflow_file(path: str) -> str:
    """A file named in the config, from the working directory if it is there, else from the workflow's folder."""
    return path if os.path.exists(path) else os.path.join(workflow.basedir, path)


def scan(wildcards, modality: str = "CT") -> pd.Series:
    """The manifest row of one scan; a clear error when the manifest lacks it."""
    key = (wildcards.patient, wildcards.timepoint, modality)
    if key not in MANIFEST.index:
        raise ValueError(f"manifest {config['manifest']} has no {modality} scan for {key[0]} {key[1]}")
    return MANIFEST.loc[key]


def timepoints(patient: str) -> list[str]:
    """The patient's CT timepoints in scan-date order."""
    return CT_SCANS[CT_SCANS.patient_id == patient].sort_values("scan_date").timepoint.tolist()


def scan_date(patient: str, timepoint: str) -> str:
    return MANIFEST.loc[(patient, timepoint, "CT"), "scan_date"]


def has_pet(patient: str, timepoint: str) -> bool:
    return (patient, timepoint, "PT") in MANIFEST.index


def lesion_tables(patient: str) -> list[str]:
    """Every lesion table of the patient: CT at each timepoint, PET where a PET scan exists."""
    tables = []
    for tp in timepoints(patient):
        tables.append(f"{RESULTS}/{patient}/{tp}/lesions_ct.tsv")
        if has_pet(patient, tp):
            tables.append(f"{RESULTS}/{patient}/{tp}/lesions_pet.tsv")
    return tables


def registry_value(patient: str, column: str):
    """A registry value as a plain Python scalar (None when missing), for params."""
    value = REGISTRY.at[patient, column] if column in REGISTRY else None
    return None if pd.isna(value) else value.item() if hasattr(value, "item") else value


def all_outputs() -> list[str]:
    """The cohort, every endpoint's models, and body composition (with its QC picture) of every CT scan."""
    bodycomp = [f"{RESULTS}/{p}/{tp}/bodycomp.tsv" for p, tp in CT_SCANS[["patient_id", "timepoint"]].values]
    models = expand("results/models/{endpoint}/metrics.tsv", endpoint=list(config["model"]["endpoints"]))
    return ["results/cohort/cohort.tsv", *models, *bodycomp]
