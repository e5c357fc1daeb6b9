# Loads and validates the config, the imaging manifest and the clinical registry once; input functions for the rules.
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

sys.path.insert(0, os.path.join(workflow.basedir, "src"))  # wbrad, where it is not installed
from wbrad.bodycomp.backends import configured_backend, for_tissue_source

_problems = configured_backend(config["segmentation"], config["bodycomp"]["tissue_source"]).preflight()  # fail before any job starts
if _problems:
    raise WorkflowError("segmentation preflight failed:\n  " + "\n  ".join(_problems))

RESULTS = "results"


def _read_manifest(path: str) -> pd.DataFrame:
    """The manifest with paths made relative to the working directory and (patient, timepoint, modality) as index."""
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    validate(sheet.replace("", None), "../schemas/manifest.schema.yaml")
    base = Path(path).parent
    for column in ("image", "lesions", "segmentation"):  # optional columns may be left out of the sheet
        sheet[column] = [os.path.normpath(base / p) if p else "" for p in sheet.get(column, [""] * len(sheet))]
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
# Lookups built once: input functions run for every job, and a 572-patient study has over 10,000 of them.
SCANS = {key: SimpleNamespace(**row) for key, row in MANIFEST.to_dict("index").items()}
TIMEPOINTS = CT_SCANS.reset_index(drop=True).sort_values("scan_date").groupby("patient_id", sort=False).timepoint.agg(list).to_dict()
REGISTRY_RECORDS = REGISTRY.to_dict("index")


wildcard_constraints:
    patient=r"[A-Za-z0-9_-]+",
    timepoint=r"[A-Za-z0-9_-]+",
    modality=r"ct|pet",
    endpoint=r"[A-Za-z0-9_-]+",


def workflow_file(path: str) -> str:
    """A file named in the config, from the working directory if it is there, else from the workflow's folder."""
    return path if os.path.exists(path) else os.path.join(workflow.basedir, path)


def scan(wildcards, modality: str = "CT") -> SimpleNamespace:
    """The manifest row of one scan (columns as attributes); a clear error when the manifest lacks it."""
    key = (wildcards.patient, wildcards.timepoint, modality)
    if key not in SCANS:
        raise ValueError(f"manifest {config['manifest']} has no {modality} scan for {key[0]} {key[1]}")
    return SCANS[key]


def convert_ct_inputs(wildcards) -> dict[str, str]:
    """The CT image and, where the manifest names one, its lesion label map or RTSTRUCT/SEG."""
    row = scan(wildcards)
    return {"image": row.image, "lesions": row.lesions} if row.lesions else {"image": row.image}


MODALITY_IMAGE = {"ct": "ct.nii.gz", "pet": "pet_suv_ct.nii.gz"}
MODALITY_PARAMS = {"ct": workflow_file(config["lesions"]["params"]["CT"]), "pet": workflow_file(config["lesions"]["params"]["PT"])}


def lesion_inputs(wildcards) -> dict[str, str]:
    """The modality's image and radiomics settings; on PET also the SUV image on its own grid (for uptake metrics).
    One input function per rule: Snakemake calls it for every job."""
    scan_dir = f"{RESULTS}/{wildcards.patient}/{wildcards.timepoint}"
    inputs = {"image": f"{scan_dir}/{MODALITY_IMAGE[wildcards.modality]}", "params": MODALITY_PARAMS[wildcards.modality]}
    if wildcards.modality == "pet":
        inputs["pet"] = f"{scan_dir}/pet_suv.nii.gz"
    return inputs


def timepoints(patient: str) -> list[str]:
    """The patient's CT timepoints in scan-date order."""
    return TIMEPOINTS.get(patient, [])


def scan_date(patient: str, timepoint: str) -> str:
    return SCANS[(patient, timepoint, "CT")].scan_date


def has_pet(patient: str, timepoint: str) -> bool:
    return (patient, timepoint, "PT") in SCANS


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
    value = REGISTRY_RECORDS[patient].get(column)
    return None if pd.isna(value) else value.item() if hasattr(value, "item") else value


def all_outputs() -> list[str]:
    """The cohort, every endpoint's models, and body composition (with its QC picture) of every CT scan."""
    bodycomp = [f"{RESULTS}/{p}/{tp}/bodycomp.tsv" for p, tp in CT_SCANS[["patient_id", "timepoint"]].values]
    models = expand("results/models/{endpoint}/metrics.tsv", endpoint=list(config["model"]["endpoints"]))
    return ["results/cohort/cohort.tsv", *models, *bodycomp]


def suv_settings(wildcards) -> dict:
    """SUV mode and formula, with explicit overrides (config, and the registry's body size when configured)."""
    settings = config["convert"]["suv"]
    overrides = dict(config["convert"]["overrides"].get(wildcards.patient, {}).get(wildcards.timepoint, {}))
    if settings["weight_source"] == "registry":
        height = registry_value(wildcards.patient, "height_cm")
        body = {"PatientWeight": registry_value(wildcards.patient, "weight_kg"),  # None: an error, not the DICOM's
                "PatientSex": registry_value(wildcards.patient, "sex"),
                "PatientSize": None if height is None else height / 100}
        overrides = {**body, **overrides}
    return {"mode": settings["mode"], "lbm_formula": settings["lbm_formula"], "overrides": overrides}


def endpoints_of_type(kind: str) -> str:
    """A wildcard pattern matching the configured endpoints of one type (matching nothing when there are none)."""
    names = [n for n, spec in config["model"]["endpoints"].items() if spec.get("type", "survival") == kind]
    return "|".join(names) if names else "(?!)"


def landmark_days() -> dict[str, int]:
    """Days from therapy start to each patient's follow-up CT: the landmark when delta features are used."""
    return {
        p: (pd.Timestamp(scan_date(p, FOLLOWUP)) - pd.Timestamp(registry_value(p, "therapy_start"))).days
        for p in REGISTRY.patient_id
        if (p, FOLLOWUP, "CT") in MANIFEST.index and registry_value(p, "therapy_start") is not None
    }
