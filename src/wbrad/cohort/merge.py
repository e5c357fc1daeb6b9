"""Join the registry with per-patient imaging tables into one row per patient."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from wbrad.io import read_tsv

KEYS = ["patient_id", "timepoint"]
BODYCOMP_DROP = ["l3_slice", "qc_reason"]
MODALITY_PREFIX = {"ct": "ct", "pt": "pet", "pet": "pet"}


def read_registry(path: Path) -> pd.DataFrame:
    """The registry CSV with ``patient_id`` as text; duplicated patients are an error."""
    registry = pd.read_csv(path, dtype={"patient_id": "string"})
    duplicated = registry["patient_id"][registry["patient_id"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"{path}: patients listed more than once: {duplicated}")
    return registry


def read_tables(paths: Iterable[Path], columns: list[str] = KEYS) -> pd.DataFrame:
    """Concatenate per-patient TSVs (``patient_id`` as text); no paths give an empty table with ``columns``."""
    frames = [read_tsv(p, dtype={"patient_id": "string", "timepoint": "string"}) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns, dtype="string")


def _one_row_per_patient(table: pd.DataFrame, what: str) -> pd.DataFrame:
    """Index ``table`` by patient, refusing a patient with two rows."""
    duplicated = sorted(set(table["patient_id"][table["patient_id"].duplicated()]))
    if duplicated:
        raise ValueError(f"{what}: more than one row for patients {duplicated}")
    return table.set_index("patient_id")


def bodycomp_columns(bodycomp: pd.DataFrame, timepoint: str) -> pd.DataFrame:
    """``bc_<metric>`` per patient from the ``timepoint`` rows; keeps ``bc_qc_status``, drops slice and reason."""
    rows = bodycomp[bodycomp["timepoint"] == timepoint].drop(columns=["timepoint", *BODYCOMP_DROP], errors="ignore")
    return _one_row_per_patient(rows, f"bodycomp.tsv at {timepoint}").add_prefix("bc_")


def aggregate_columns(aggregates: pd.DataFrame, timepoint: str) -> pd.DataFrame:
    """``ct_<aggregate>`` and ``pet_<aggregate>`` per patient from the ``timepoint`` rows of aggregates.tsv."""
    rows = aggregates[aggregates["timepoint"] == timepoint]
    wide = []
    for modality, group in rows.groupby("modality", sort=True):
        prefix = MODALITY_PREFIX.get(str(modality).lower())
        if prefix is None:
            raise ValueError(f"aggregates.tsv: unknown modality {modality!r} (patients {sorted(group['patient_id'])})")
        group = group.drop(columns=["timepoint", "modality"])
        wide.append(_one_row_per_patient(group, f"aggregates.tsv {modality} at {timepoint}").add_prefix(f"{prefix}_"))
    return pd.concat(wide, axis=1) if wide else pd.DataFrame(index=pd.Index([], name="patient_id", dtype="string"))


def delta_columns(deltas: pd.DataFrame, followup: str) -> pd.DataFrame:
    """``delta_<column>`` per patient from the ``followup`` rows of delta.tsv."""
    rows = deltas[deltas["timepoint"] == followup].drop(columns=["timepoint"])
    return _one_row_per_patient(rows, f"delta.tsv at {followup}").add_prefix("delta_")


def merge_cohort(registry: pd.DataFrame, imaging: list[pd.DataFrame]) -> pd.DataFrame:
    """Left-join the imaging blocks (indexed by patient) onto the registry; unknown patients are an error."""
    patients = registry["patient_id"]
    unknown = sorted(set().union(*(block.index for block in imaging)) - set(patients))
    if unknown:
        raise ValueError(f"imaging results for patients not in the registry: {unknown}")
    blocks = [block.reindex(patients).reset_index(drop=True) for block in imaging]
    return pd.concat([registry.reset_index(drop=True), *blocks], axis=1)
