# Loads and validates the config, the imaging manifest and the clinical registry once; input functions for the rules.
import functools
import os
import sys
from types import SimpleNamespace

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

sys.path.insert(0, os.path.join(workflow.basedir, "src"))  # wbrad, where it is not installed
from wbrad import failures, records, study
from wbrad.bodycomp.backends import configured_backend, for_tissue_source, unsegmented_scans
from wbrad.workflow import cancel_rescheduling_timers
from wbrad.study import (
    AGGREGATES,
    BODYCOMP,
    BODYCOMP_QC,
    COHORT,
    CT_IMAGE,
    CT_PROVENANCE,
    DELTA,
    DELTA_LESIONS,
    DICTIONARY,
    EXCLUSIONS,
    LESION_IMAGE,
    LESION_MAP,
    LESION_TABLE,
    PET_PROVENANCE,
    PET_SUV,
    PET_SUV_ON_CT,
    SEG_DIR,
    path,
)

_backend = configured_backend(config["segmentation"], config["bodycomp"]["tissue_source"])
_problems = _backend.preflight()  # fail before any job starts
if _problems:
    raise WorkflowError("segmentation preflight failed:\n  " + "\n  ".join(_problems))

MANIFEST = study.read_manifest(config["manifest"], workflow.basedir)
_missing = failures.missing_files(MANIFEST)  # all at once, before any job
MANIFEST_EXCLUSIONS = []  # rows of exclusions.tsv for the scans left out here (stage manifest)
if len(_missing) and config["missing_files"] == failures.STOP:
    raise WorkflowError(failures.missing_message(_missing, config["manifest"]))
if len(_missing):
    MANIFEST, MANIFEST_EXCLUSIONS = failures.exclude_missing(MANIFEST, _missing)
    logger.warning(
        failures.missing_message(_missing, config["manifest"]).split("\nrestore")[0]
        + f"\nmissing_files: exclude: {len(MANIFEST_EXCLUSIONS)} scan(s) left out (listed in {EXCLUSIONS})"
    )
REGISTRY = study.read_registry(config["registry"], workflow.basedir, config["registry_format"])
STUDY_TIMEPOINTS = study.Timepoints.from_config(config)
BASELINE, FOLLOWUP = STUDY_TIMEPOINTS.baseline, STUDY_TIMEPOINTS.followup

_unsegmented = unsegmented_scans(MANIFEST, config["segmentation"])
if _unsegmented:
    raise WorkflowError(
        f"{config['manifest']}: the precomputed segmentation backend needs a segmentation folder for every CT; "
        f"none for {', '.join(' '.join(scan) for scan in _unsegmented)}"
    )

_unregistered = sorted(set(MANIFEST.patient_id) - set(REGISTRY.patient_id))
if _unregistered:
    raise WorkflowError(f"{config['manifest']}: patients not in the registry {config['registry']}: {_unregistered}")

_records = records.record_problems(MANIFEST, REGISTRY, STUDY_TIMEPOINTS, config["record_checks"])
for _warning in (p for p in _records if p.severity == records.WARNING):
    logger.warning(f"impossible record, used as written: {_warning}")
_impossible = [p for p in _records if p.severity == records.BLOCKING]
if _impossible:
    raise WorkflowError(records.message(_impossible, f"{config['manifest']} and {config['registry']}"))

CT_SCANS = MANIFEST.xs(study.CT, level="modality", drop_level=False)
PATIENTS = sorted(CT_SCANS.patient_id.unique())
# Lookups built once: input functions run for every job, and a 572-patient study has over 10,000 of them.
SCANS = {key: SimpleNamespace(**row) for key, row in MANIFEST.to_dict("index").items()}
TIMEPOINTS = (
    CT_SCANS.reset_index(drop=True)
    .sort_values("scan_date")
    .groupby("patient_id", sort=False)
    .timepoint.agg(list)
    .to_dict()
)
REGISTRY_RECORDS = REGISTRY.to_dict("index")


wildcard_constraints:
    patient=r"[A-Za-z0-9_-]+",
    timepoint=r"[A-Za-z0-9_-]+",
    modality="|".join(study.FILE_MODALITY.values()),
    endpoint=r"[A-Za-z0-9_-]+",


def workflow_file(path: str) -> str:
    """A file named in the config, from the working directory if it is there, else from the workflow's folder."""
    return path if os.path.exists(path) else os.path.join(workflow.basedir, path)


def scan(wildcards, modality: str = study.CT) -> SimpleNamespace:
    """The manifest row of one scan (columns as attributes); a clear error when the manifest lacks it."""
    key = (wildcards.patient, wildcards.timepoint, modality)
    if key not in SCANS:
        raise ValueError(f"manifest {config['manifest']} has no {modality} scan for {key[0]} {key[1]}")
    return SCANS[key]


def convert_ct_inputs(wildcards) -> dict[str, str]:
    """The CT image and, where the manifest names one, its lesion label map or RTSTRUCT/SEG."""
    row = scan(wildcards)
    return {"image": row.image, "lesions": row.lesions} if row.lesions else {"image": row.image}


LESION_PARAMS = {
    study.file_modality(modality): workflow_file(params) for modality, params in config["lesions"]["params"].items()
}


def lesion_inputs(wildcards) -> dict[str, str]:
    """The modality's image and radiomics settings; on PET also the SUV image on its own grid (for uptake metrics).
    One input function per rule: Snakemake calls it for every job."""
    inputs = {
        "image": path(LESION_IMAGE[wildcards.modality], patient=wildcards.patient, timepoint=wildcards.timepoint),
        "params": LESION_PARAMS[wildcards.modality],
    }
    if wildcards.modality == study.file_modality(study.PET):
        inputs["pet"] = path(PET_SUV, patient=wildcards.patient, timepoint=wildcards.timepoint)
    return inputs


def timepoints(patient: str) -> list[str]:
    """The patient's CT timepoints in scan-date order."""
    return TIMEPOINTS.get(patient, [])


def scan_date(patient: str, timepoint: str) -> str:
    return SCANS[(patient, timepoint, study.CT)].scan_date


def lesion_scans(patient: str) -> list[list[str]]:
    """``[timepoint, modality]`` of every lesion table of the patient: CT at each timepoint, PET where one exists."""
    return [[tp, m] for tp in timepoints(patient) for m in study.MODALITIES if (patient, tp, m) in SCANS]


def lesion_tables(patient: str) -> list[str]:
    """The lesion tables of ``lesion_scans(patient)``, in the same order."""
    return [
        path(LESION_TABLE, patient=patient, timepoint=tp, modality=study.file_modality(m))
        for tp, m in lesion_scans(patient)
    ]


def registry_value(patient: str, column: str):
    """A registry value as a plain Python scalar (None when missing), for params."""
    value = REGISTRY_RECORDS[patient].get(column)
    return None if pd.isna(value) else value.item() if hasattr(value, "item") else value


def all_outputs() -> list[str]:
    """The cohort, every endpoint's models, body composition (with its QC picture) of every CT scan, and the tumour
    burden (with its MIP picture) of every PET scan, the tracks and response of every patient."""
    bodycomp = [path(BODYCOMP, patient=p, timepoint=tp) for p, tp in CT_SCANS[["patient_id", "timepoint"]].values]
    models = expand(study.model_file("metrics"), endpoint=list(config["model"]["endpoints"]))
    return [COHORT, *models, *bodycomp, *burden_outputs(), *tracking_outputs(), *ROBUSTNESS_OUTPUTS]


def suv_settings(wildcards) -> dict:
    """SUV mode and formula, with explicit overrides (config, and the registry's body size when configured)."""
    settings = config["convert"]["suv"]
    overrides = dict(config["convert"]["overrides"].get(wildcards.patient, {}).get(wildcards.timepoint, {}))
    if settings["weight_source"] == "registry":
        height = registry_value(wildcards.patient, "height_cm")
        body = {
            "PatientWeight": registry_value(wildcards.patient, "weight_kg"),  # None: an error, not the DICOM's
            "PatientSex": registry_value(wildcards.patient, "sex"),
            "PatientSize": None if height is None else height / 100,
        }
        overrides = {**body, **overrides}
    return {"mode": settings["mode"], "lbm_formula": settings["lbm_formula"], "overrides": overrides}


def endpoints_of_type(kind: str) -> str:
    """A wildcard pattern matching the configured endpoints of one type (matching nothing when there are none)."""
    names = [n for n, spec in config["model"]["endpoints"].items() if spec.get("type", "survival") == kind]
    return "|".join(names) if names else "(?!)"


def followup_dates() -> dict[str, str]:
    """Each patient's configured follow-up CT date (patients without one are left out), for the landmark column."""
    return {p: scan_date(p, FOLLOWUP) for p in PATIENTS if (p, FOLLOWUP, study.CT) in SCANS}


def baseline_scanners() -> dict[str, str]:
    """Each patient's baseline CT scanner (the manifest's optional ``scanner`` column): ComBat's batch."""
    rows = {p: SCANS.get((p, BASELINE, study.CT)) for p in PATIENTS}
    names = {p: getattr(row, "scanner", None) for p, row in rows.items()}
    return {p: str(name) for p, name in names.items() if isinstance(name, str) and name}


def scan_tables() -> list[str]:
    """Every scan's body composition and lesion tables: the cohort reads their failure records (exclusions.tsv)."""
    bodycomp = [path(BODYCOMP, patient=p, timepoint=tp) for p, tp in CT_SCANS[["patient_id", "timepoint"]].values]
    return bodycomp + [table for p in PATIENTS for table in lesion_tables(p)]


def baseline_bodycomp() -> list[str]:
    """The body composition table of every patient's baseline CT."""
    return [path(BODYCOMP, patient=p, timepoint=BASELINE) for p in PATIENTS if BASELINE in timepoints(p)]


MODEL_REPORTS = {  # outputs shown in the Snakemake report, with their captions
    "metrics": "model_summary",
    "gains": "gains",
    "km": "km",
    "tdauc": "tdauc",
    "calibration": "calibration",
    "roc": "roc",
}


def model_outputs(names: tuple[str, ...]) -> dict:
    """The named outputs of a model rule (``wbrad.study.MODEL_FILES``), report entries wrapped."""
    outputs = {}
    for name in names:
        template = study.model_file(name)
        if name in MODEL_REPORTS:
            caption = f"../report/{MODEL_REPORTS[name]}.rst"
            template = report(template, caption=caption, category="Models", subcategory="{endpoint}")
        outputs[name] = template
    return outputs


# --- PET tumour burden (rules/burden.smk) -----------------------------------------------------------------------------
from wbrad.study import BURDEN_EXCLUDED, BURDEN_LESION_TABLE, BURDEN_LESIONS, BURDEN_MIP, BURDEN_TABLE  # noqa: E402

PET_SCANS = [(p, tp) for p in PATIENTS for tp in timepoints(p) if (p, tp, study.PET) in SCANS]  # with a CT


def burden_outputs() -> list[str]:
    """The burden table and MIP picture of every PET scan."""
    return [path(t, patient=p, timepoint=tp) for p, tp in PET_SCANS for t in (BURDEN_TABLE, BURDEN_MIP)]


def burden_tables() -> list[str]:
    """The burden table of every patient's baseline and follow-up PET, for the cohort."""
    return [path(BURDEN_TABLE, patient=p, timepoint=tp) for p, tp in PET_SCANS if tp in (BASELINE, FOLLOWUP)]


# --- lesion tracking and response (rules/track.smk) -------------------------------------------------------------------
from wbrad.study import REGISTRATION_QUALITY, RESPONSE, RESPONSE_AGREEMENT, TRACKING_QC, TRACKS, TRANSFORM  # noqa: E402


def tracked_timepoints(patient: str, pet: bool = False) -> list[str]:
    """CT timepoints with contoured lesions in date order, the baseline first (none without a contoured baseline);
    with ``pet``, those of them that also have a PET."""
    return list(_tracked_timepoints(patient, pet))


@functools.cache  # input functions ask for each patient's timepoints many times (over 5,000 calls at 572 patients)
def _tracked_timepoints(patient: str, pet: bool) -> tuple[str, ...]:
    contoured = [tp for tp in timepoints(patient) if SCANS[(patient, tp, study.CT)].lesions]
    if BASELINE not in contoured:
        return ()
    ordered = [BASELINE] + [tp for tp in contoured if tp != BASELINE]
    return tuple(tp for tp in ordered if (patient, tp, study.PET) in SCANS) if pet else tuple(ordered)


def at_baseline(template: str) -> str:
    """A per-scan template at the patient's baseline, ``{patient}`` left as a wildcard: a plain input, no function."""
    return path(template, patient="{patient}", timepoint=BASELINE)


def tracked_files(template: str, patient: str, pet: bool = False, **wildcards: str) -> list[str]:
    return [path(template, patient=patient, timepoint=tp, **wildcards) for tp in tracked_timepoints(patient, pet)]


def track_inputs(wildcards) -> dict[str, list[str]]:
    """CTs, lesion maps and CT tables of the tracked timepoints, the follow-ups' transforms, PET and masks where PET
    exists."""
    patient = wildcards.patient
    return {
        "cts": tracked_files(CT_IMAGE, patient),
        "maps": tracked_files(LESION_MAP, patient),
        "tables": tracked_files(LESION_TABLE, patient, modality="ct"),
        "transforms": tracked_files(TRANSFORM, patient)[1:],
        "pets": tracked_files(PET_SUV, patient, pet=True),
        "segs": tracked_files(SEG_DIR, patient, pet=True),
    }


def tracked_days(patient: str) -> dict[str, int]:
    """Days from the baseline scan to each tracked timepoint, in date order."""
    start = pd.Timestamp(scan_date(patient, BASELINE))
    return {tp: (pd.Timestamp(scan_date(patient, tp)) - start).days for tp in tracked_timepoints(patient)}


def body_size(patient: str) -> dict:
    """The registry's weight, height and sex (None where unknown) and the LBM formula, for PERCIST's SUL."""
    body = {key: registry_value(patient, key) for key in ("weight_kg", "height_cm", "sex")}
    return {**body, "lbm_formula": config["convert"]["suv"]["lbm_formula"]}


TRACKED_PATIENTS = [p for p in PATIENTS if tracked_timepoints(p)]


def tracking_outputs() -> list[str]:
    """Tracks, response and tracking QC picture of every patient with a contoured baseline."""
    return expand([TRACKS, RESPONSE, TRACKING_QC], patient=TRACKED_PATIENTS)
