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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the readers import them: every job imports this module for its path templates
    import pandas as pd

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
SEG_BATCH = f"{PATIENT_DIR}/seg_batch"  # <timepoint>/<task>/<class>.nii.gz: a model run once per patient
BODYCOMP = f"{SCAN_DIR}/bodycomp.tsv"
BODYCOMP_QC = f"{SCAN_DIR}/qc/bodycomp.png"
LESION_TABLE = f"{SCAN_DIR}/lesions_{{modality}}.tsv"  # modality: a FILE_MODALITY word
LESION_IMAGE = {"ct": CT_IMAGE, "pet": PET_SUV_ON_CT}  # the image a lesion table's features are read from

# --- burden: PET tumour burden without contours (rules/burden.smk), on the PET's own grid ---
BURDEN_DIR = f"{SCAN_DIR}/burden"
BURDEN_LESIONS = f"{BURDEN_DIR}/lesions.nii.gz"  # label map of the detected lesions
BURDEN_EXCLUDED = f"{BURDEN_DIR}/excluded.nii.gz"  # 1: physiological organ, 2: its margin
BURDEN_LESION_TABLE = f"{BURDEN_DIR}/lesions.tsv"  # one row per detected lesion (uptake, pyradiomics)
BURDEN_TABLE = f"{BURDEN_DIR}/burden.tsv"  # one row: TMTV, TLG, count, SUVmax, Dmax, agreement with contours
BURDEN_MIP = f"{BURDEN_DIR}/mip.png"

# --- tracking: lesions followed over the timepoints and their response (rules/track.smk) ---
REGISTRATION_DIR = f"{SCAN_DIR}/registration"  # of a follow-up CT onto the patient's baseline CT
TRANSFORM = f"{REGISTRATION_DIR}/transform.tfm"  # maps a baseline point to the follow-up point (ITK convention)
REGISTRATION_QUALITY = f"{REGISTRATION_DIR}/quality.json"  # bone and body Dice before and after, coverage, MI
TRACKING_QC = f"{PATIENT_DIR}/qc/tracking.png"  # the baseline and every registered follow-up with their track ids
TRACKS = f"{PATIENT_DIR}/tracks.tsv"  # one row per (track, timepoint, lesion) with the lesion's diameters
RESPONSE = f"{PATIENT_DIR}/response.tsv"  # one row per timepoint: RECIST 1.1, iRECIST, PERCIST and their numbers

AGGREGATES = f"{PATIENT_DIR}/aggregates.tsv"
DELTA = f"{PATIENT_DIR}/delta.tsv"
DELTA_LESIONS = f"{PATIENT_DIR}/delta_lesions.tsv"

COHORT = f"{COHORT_DIR}/cohort.tsv"
DICTIONARY = f"{COHORT_DIR}/dictionary.tsv"
RESPONSE_AGREEMENT = f"{COHORT_DIR}/response_agreement.tsv"  # image-derived best response vs the registry's
EXCLUSIONS = f"{COHORT_DIR}/exclusions.tsv"  # every scan or patient left out, with stage and reason

MODEL_FILES = {  # output name -> file in MODEL_DIR; the model stage writes exactly the ones its rule names
    "metrics": "metrics.tsv",
    "metrics_json": "metrics.json",
    "gains": "gains.tsv",
    "oof": "oof_risk.tsv",
    "importances": "importances.tsv",
    "imputed": "imputed.tsv",
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
    "imputed",
    "calibration_table",
    "tdauc_table",
    "km",
    "tdauc",
    "calibration",
    "model",
)
BINARY_OUTPUTS = ("metrics", "metrics_json", "gains", "oof", "importances", "imputed", "roc", "model")


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
    import yaml

    with open(repository(basedir) / "schemas" / f"{name}.schema.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


class StudyError(ValueError):
    """A problem of the user's study files (not of the code): printed as one message, without a traceback."""


def _json_value(value: Any) -> Any:
    """A pandas cell as JSON schema sees it: missing -> None, whole floats of integer columns -> int."""
    import pandas as pd

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
    import jsonschema

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


def read_manifest_sheet(path: str | Path, basedir: str | None = None) -> pd.DataFrame:
    """The imaging manifest as written (text cells, paths relative to its folder), validated."""
    import pandas as pd

    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    _raise_all(validation_problems(sheet.replace("", None), "manifest", path, basedir=basedir), "manifest")
    return sheet


def read_manifest(path: str | Path, basedir: str | None = None) -> pd.DataFrame:
    """The imaging manifest, validated, with paths made relative to the working directory; indexed by
    ``(patient_id, timepoint, modality)`` (columns kept). Optional path columns may be left out of the file."""
    path = Path(path)
    sheet = read_manifest_sheet(path, basedir)
    for column in MANIFEST_PATHS:
        values = sheet[column] if column in sheet else [""] * len(sheet)
        sheet[column] = [os.path.normpath(path.parent / p) if p else "" for p in values]
    duplicated = sheet[sheet.duplicated(MANIFEST_KEY, keep=False)]
    if not duplicated.empty:
        raise StudyError(f"{path}: more than one scan for {duplicated[MANIFEST_KEY].drop_duplicates().values.tolist()}")
    return sheet.set_index(MANIFEST_KEY, drop=False).sort_index()


REGISTRY_TEXT = {"patient_id": "string", "sex": "string", "braf": "string", "therapy": "string",
                 "therapy_start": "string", "best_response": "string"}
REGISTRY_DATES = ("therapy_start",)  # written as YYYY-MM-DD once read
SEPARATORS = {";": "semicolon", "\t": "tab", ",": "comma", "|": "vertical bar"}


@dataclass(frozen=True)
class RegistryFormat:
    """How the clinic's CSV is written (config ``registry_format``): e.g. a German Excel export is
    ``RegistryFormat(sep=";", decimal=",", encoding="utf-8", dates="%d.%m.%Y")``; a byte-order mark is always
    accepted."""

    sep: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    dates: str = "%Y-%m-%d"


def _read_csv(path: Path, fmt: RegistryFormat) -> pd.DataFrame:
    """The CSV as ``fmt`` says, or a StudyError that names the setting to change."""
    import pandas as pd

    encoding = "utf-8-sig" if fmt.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else fmt.encoding
    try:
        table = pd.read_csv(path, dtype=REGISTRY_TEXT, sep=fmt.sep, decimal=fmt.decimal, encoding=encoding)
    except UnicodeDecodeError as err:
        raise StudyError(f"{path}: byte {err.start} is not {fmt.encoding} text; set the file's encoding in the config, "
                         f"e.g. registry_format: {{encoding: latin-1}} (Windows exports are often latin-1 or cp1252)"
                         ) from None
    header = ",".join(map(str, table.columns))
    if "patient_id" not in table.columns:
        found = [sep for sep in SEPARATORS if sep != fmt.sep and sep in header]
        hint = (f"the header looks {SEPARATORS[found[0]]}-separated: set registry_format: {{sep: {found[0]!r}}}"
                if found else "the registry needs a patient_id column")
        raise StudyError(f"{path}: no column patient_id with separator {fmt.sep!r} (header read as {header[:80]!r}); "
                         f"{hint}, with decimal: ',' where numbers have decimal commas")
    return table


def _iso_dates(table: pd.DataFrame, fmt: RegistryFormat, path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Date columns written in ``fmt.dates`` as ``YYYY-MM-DD``, and a problem (with its CSV line) for every value
    that is not in that format (it is kept as written)."""
    import pandas as pd

    problems = []
    for column in (c for c in REGISTRY_DATES if c in table):
        parsed = pd.to_datetime(table[column], format=fmt.dates, errors="coerce")
        for row in table.index[parsed.isna() & table[column].notna()]:
            problems.append(f"{path} line {row + 2} (patient {table.at[row, 'patient_id']}): {column}: "
                            f"{table.at[row, column]!r} is not a date in the format {fmt.dates} (registry_format)")
        table[column] = parsed.dt.strftime("%Y-%m-%d").astype("string").where(parsed.notna(), table[column])
    return table, problems


def read_registry(path: str | Path, basedir: str | None = None, fmt: dict[str, str] | None = None) -> pd.DataFrame:
    """The clinical registry, validated, indexed by ``patient_id`` (column kept); a patient listed twice is an error.
    ``fmt`` is the config's ``registry_format`` (separator, decimal mark, encoding, date format)."""
    path = Path(path)
    layout = RegistryFormat(**(fmt or {}))
    registry, problems = _iso_dates(_read_csv(path, layout), layout, path)
    _raise_all(problems + validation_problems(registry, "registry", path, basedir=basedir), "registry")
    duplicated = registry["patient_id"][registry["patient_id"].duplicated()].tolist()
    if duplicated:
        raise StudyError(f"{path}: patients listed more than once: {duplicated}")
    return registry.set_index("patient_id", drop=False)


# --- robustness: features under image perturbation (rules/robustness.smk, wbrad.robustness) ---
ROBUSTNESS_SCAN = f"{SCAN_DIR}/robustness/{{modality}}.tsv"  # perturbed values: lesion, perturbation, feature, value
ROBUSTNESS = f"{COHORT_DIR}/robustness.tsv"  # ICC(1,1) and its 95 % interval per feature and modality
ROBUSTNESS_PLOT = f"{COHORT_DIR}/robustness.png"  # the ICC distribution per feature class
ROBUSTNESS_RETEST = f"{COHORT_DIR}/robustness_retest.tsv"  # test-retest ICC per feature, lesions paired by label
ROBUSTNESS_AGREEMENT = f"{COHORT_DIR}/robustness_agreement.json"  # test-retest vs perturbation ICC, per modality
