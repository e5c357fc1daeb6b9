"""The study's vocabulary, declared once: result paths, timepoints, modalities, and the manifest and registry readers.

Rules (``rules/*.smk``) and the library import these names; library functions receive explicit paths and never parse
folder or file names. Modality is ``CT`` or ``PT`` (DICOM's spelling) in tables and the manifest; ``ct`` and ``pet``
appear only in file names and cohort column prefixes, through ``FILE_MODALITY``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml

# --- modalities ------------------------------------------------------------------------------------------------------
CT, PET = "CT", "PT"
MODALITIES = (CT, PET)
FILE_MODALITY = {CT: "ct", PET: "pet"}  # canonical -> the word in file names and cohort column prefixes
MODALITY_OF_FILE = {word: modality for modality, word in FILE_MODALITY.items()}
MODALITY_WORDS = {CT: "CT", PET: "PET"}  # for descriptions a person reads


def modality(value: str) -> str:
    """The canonical modality (``CT``/``PT``) of any spelling used in the house (``ct``, ``pet``, ``PET``, ``pt``)."""
    word = str(value).strip()
    if word.upper() in MODALITIES:
        return word.upper()
    if word.lower() in MODALITY_OF_FILE:
        return MODALITY_OF_FILE[word.lower()]
    if word.upper() == "PET":
        return PET
    raise ValueError(
        f"unknown modality {value!r}; known: {', '.join(MODALITIES)} (files: {', '.join(MODALITY_OF_FILE)})"
    )


def file_modality(value: str) -> str:
    """The file-name word (``ct``/``pet``) of a modality in any spelling."""
    return FILE_MODALITY[modality(value)]


# --- timepoints -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timepoints:
    """The configured names: ``baseline`` describes the patient at therapy start; ``followup`` is the scan whose
    change from baseline enters the cohort table."""

    baseline: str = "baseline"
    followup: str = "fu1"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Timepoints:
        section = config.get("timepoints", {})
        return cls(section.get("baseline", cls.baseline), section.get("followup", cls.followup))


LANDMARK = "landmark_days"  # cohort column: days from therapy start to the follow-up CT (the model stage's landmark)


# --- result paths (relative to the working directory) -----------------------------------------------------------------
RESULTS = "results"
SCAN_DIR = f"{RESULTS}/{{patient}}/{{timepoint}}"
PATIENT_DIR = f"{RESULTS}/{{patient}}"
COHORT_DIR = f"{RESULTS}/cohort"
MODEL_DIR = f"{RESULTS}/models/{{endpoint}}"

CT_IMAGE = f"{SCAN_DIR}/ct.nii.gz"
LESION_MAP = f"{SCAN_DIR}/lesions.nii.gz"
CT_PROVENANCE = f"{SCAN_DIR}/provenance.json"
PET_SUV = f"{SCAN_DIR}/pet_suv.nii.gz"  # on the PET's own grid
PET_SUV_ON_CT = f"{SCAN_DIR}/pet_suv_ct.nii.gz"  # resampled onto the CT grid
PET_PROVENANCE = f"{SCAN_DIR}/provenance_pet.json"
SEG_DIR = f"{SCAN_DIR}/seg"  # <task>/<class>.nii.gz, wbrad.segmentation
BODYCOMP = f"{SCAN_DIR}/bodycomp.tsv"
BODYCOMP_QC = f"{SCAN_DIR}/qc/bodycomp.png"
LESION_TABLE = f"{SCAN_DIR}/lesions_{{modality}}.tsv"  # modality: a FILE_MODALITY word
LESION_IMAGE = {"ct": CT_IMAGE, "pet": PET_SUV_ON_CT}  # the image a lesion table's features are read from

AGGREGATES = f"{PATIENT_DIR}/aggregates.tsv"
DELTA = f"{PATIENT_DIR}/delta.tsv"
DELTA_LESIONS = f"{PATIENT_DIR}/delta_lesions.tsv"

COHORT = f"{COHORT_DIR}/cohort.tsv"
DICTIONARY = f"{COHORT_DIR}/dictionary.tsv"

MODEL_FILES = {  # output name -> file in MODEL_DIR; the model stage writes exactly the ones its rule names
    "metrics": "metrics.tsv",
    "metrics_json": "metrics.json",
    "gains": "gains.tsv",
    "oof": "oof_risk.tsv",
    "importances": "importances.tsv",
    "calibration_table": "calibration.tsv",
    "tdauc_table": "tdauc.tsv",
    "km": "km.png",
    "tdauc": "tdauc.png",
    "calibration": "calibration.png",
    "roc": "roc.png",
    "model": "model.joblib",
}
SURVIVAL_OUTPUTS = (
    "metrics",
    "metrics_json",
    "gains",
    "oof",
    "importances",
    "calibration_table",
    "tdauc_table",
    "km",
    "tdauc",
    "calibration",
    "model",
)
BINARY_OUTPUTS = ("metrics", "metrics_json", "gains", "oof", "importances", "roc", "model")


def model_file(name: str) -> str:
    """The path template of one model output (``{endpoint}`` left as a wildcard)."""
    return f"{MODEL_DIR}/{MODEL_FILES[name]}"


def model_paths(folder: str | Path, binary: bool) -> dict[str, Path]:
    """Every output of one endpoint's model stage inside ``folder`` (for callers outside the workflow)."""
    return {name: Path(folder) / MODEL_FILES[name] for name in (BINARY_OUTPUTS if binary else SURVIVAL_OUTPUTS)}


def path(template: str, **wildcards: str) -> str:
    """A template with its wildcards filled in, e.g. ``path(BODYCOMP, patient="P001", timepoint="baseline")``."""
    return template.format(**wildcards)


def result(root: str | Path, template: str, **wildcards: str) -> Path:
    """A result file under a results folder ``root`` other than the working directory's ``results/``."""
    return Path(root) / template.removeprefix(f"{RESULTS}/").format(**wildcards)


# --- the repository and its schemas -----------------------------------------------------------------------------------
def repository(start: str | Path | None = None) -> Path:
    """The workflow's folder: ``start`` (a rule passes ``workflow.basedir``), else the nearest folder above this
    package that holds the ``Snakefile`` and ``schemas/``."""
    if start is not None:
        return Path(start)
    for folder in Path(__file__).resolve().parents:
        if (folder / "Snakefile").is_file() and (folder / "schemas").is_dir():
            return folder
    raise FileNotFoundError(f"no wbrad workflow folder (Snakefile and schemas/) above {__file__}")


@cache
def schema(name: str, basedir: str | None = None) -> dict:
    """A JSON schema of ``schemas/`` (``manifest``, ``registry``, ``config``)."""
    with open(repository(basedir) / "schemas" / f"{name}.schema.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


class StudyError(ValueError):
    """A problem of the user's study files (not of the code): printed as one message, without a traceback."""


def _json_value(value: Any) -> Any:
    """A pandas cell as JSON schema sees it: missing -> None, whole floats of integer columns -> int."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def validation_problems(
    table: pd.DataFrame, name: str, path: str | Path, first_line: int = 2, basedir: str | None = None
) -> list[str]:
    """Every schema problem of every row, as ``path line N (patient P): column: message``; lines count from the
    file's first line, the header being line 1 (``first_line`` is the line of the first row)."""
    validator = jsonschema.Draft202012Validator(schema(name, basedir))
    problems = []
    for offset, record in enumerate(table.to_dict("records")):
        row = {k: v for k, v in ((k, _json_value(v)) for k, v in record.items()) if v is not None}
        for error in sorted(validator.iter_errors(row), key=lambda e: list(e.path)):
            column = ".".join(map(str, error.path)) or "row"
            patient = f" (patient {record.get('patient_id')})" if record.get("patient_id") else ""
            problems.append(f"{path} line {first_line + offset}{patient}: {column}: {error.message}")
    return problems


def _raise_all(problems: list[str], what: str) -> None:
    if problems:
        raise StudyError(f"{len(problems)} problem(s) in the {what}:\n  " + "\n  ".join(problems))


# --- the two study sheets ---------------------------------------------------------------------------------------------
MANIFEST_KEY = ["patient_id", "timepoint", "modality"]
MANIFEST_PATHS = ("image", "lesions", "segmentation")  # relative to the manifest's folder in the file


def read_manifest(path: str | Path, basedir: str | None = None) -> pd.DataFrame:
    """The imaging manifest, validated, with paths made relative to the working directory; indexed by
    ``(patient_id, timepoint, modality)`` (columns kept). Optional path columns may be left out of the file."""
    path = Path(path)
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    _raise_all(validation_problems(sheet.replace("", None), "manifest", path, basedir=basedir), "manifest")
    for column in MANIFEST_PATHS:
        values = sheet[column] if column in sheet else [""] * len(sheet)
        sheet[column] = [os.path.normpath(path.parent / p) if p else "" for p in values]
    duplicated = sheet[sheet.duplicated(MANIFEST_KEY, keep=False)]
    if not duplicated.empty:
        raise StudyError(f"{path}: more than one scan for {duplicated[MANIFEST_KEY].drop_duplicates().values.tolist()}")
    return sheet.set_index(MANIFEST_KEY, drop=False).sort_index()


REGISTRY_TEXT = {
    "patient_id": "string",
    "sex": "string",
    "braf": "string",
    "therapy": "string",
    "therapy_start": "string",
    "best_response": "string",
}


def read_registry(path: str | Path, basedir: str | None = None) -> pd.DataFrame:
    """The clinical registry, validated, indexed by ``patient_id`` (column kept); a patient listed twice is an error."""
    path = Path(path)
    registry = pd.read_csv(path, dtype=REGISTRY_TEXT)
    _raise_all(validation_problems(registry, "registry", path, basedir=basedir), "registry")
    duplicated = registry["patient_id"][registry["patient_id"].duplicated()].tolist()
    if duplicated:
        raise StudyError(f"{path}: patients listed more than once: {duplicated}")
    return registry.set_index("patient_id", drop=False)
