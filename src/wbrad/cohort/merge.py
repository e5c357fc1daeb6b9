"""Join the registry with per-patient imaging tables into one row per patient."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from wbrad.burden.columns import COHORT_VALUES as BURDEN_VALUES
from wbrad.delta.changes import abs_rel
from wbrad.io import read_tsvs
from wbrad.study import LANDMARK, file_modality

KEYS = ["patient_id", "timepoint"]
BODYCOMP_DROP = ["l3_slice", "qc_reason"]


def read_tables(paths: Iterable[Path], columns: list[str] = KEYS) -> pd.DataFrame:
    """Concatenate per-patient TSVs (``patient_id`` as text); no paths give an empty table with ``columns``."""
    paths = list(paths)
    if not paths:
        return pd.DataFrame(columns=columns, dtype="string")
    return read_tsvs(paths, dtype={"patient_id": "string", "timepoint": "string"})


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
        try:
            prefix = file_modality(str(modality))
        except ValueError as err:
            raise ValueError(f"aggregates.tsv: {err} (patients {sorted(group['patient_id'])})") from None
        group = group.drop(columns=["timepoint", "modality"])
        wide.append(_one_row_per_patient(group, f"aggregates.tsv {modality} at {timepoint}").add_prefix(f"{prefix}_"))
    return pd.concat(wide, axis=1) if wide else pd.DataFrame(index=pd.Index([], name="patient_id", dtype="string"))


def delta_columns(deltas: pd.DataFrame, followup: str) -> pd.DataFrame:
    """``delta_<column>`` per patient from the ``followup`` rows of delta.tsv."""
    rows = deltas[deltas["timepoint"] == followup].drop(columns=["timepoint"])
    return _one_row_per_patient(rows, f"delta.tsv at {followup}").add_prefix("delta_")


def burden_columns(burden: pd.DataFrame, baseline: str, followup: str) -> pd.DataFrame:
    """``burden_<value>`` per patient from the ``baseline`` rows of burden.tsv, then ``delta_abs_burden_<value>`` and
    ``delta_rel_burden_<value>``: the ``followup`` rows' change from them (rel NA where the baseline is 0 or NA)."""
    def values(timepoint: str) -> pd.DataFrame:
        rows = burden[burden["timepoint"] == timepoint]
        rows = _one_row_per_patient(rows, f"burden.tsv at {timepoint}")
        return rows.reindex(columns=list(BURDEN_VALUES)).astype(float).add_prefix("burden_")

    base, later = values(baseline), values(followup)
    changes = abs_rel(later, base.reindex(later.index)).add_prefix("delta_")
    return pd.concat([base, changes], axis=1)


def merge_cohort(registry: pd.DataFrame, imaging: list[pd.DataFrame]) -> pd.DataFrame:
    """Left-join the imaging blocks (indexed by patient) onto the registry; unknown patients are an error."""
    patients = registry["patient_id"]
    unknown = sorted(set().union(*(block.index for block in imaging)) - set(patients))
    if unknown:
        raise ValueError(f"imaging results for patients not in the registry: {unknown}")
    blocks = [block.reindex(patients).reset_index(drop=True) for block in imaging]
    return pd.concat([registry.reset_index(drop=True), *blocks], axis=1)


def landmark_days(registry: pd.DataFrame, followup_dates: dict[str, str]) -> pd.Series:
    """Days from therapy start to each patient's follow-up scan (NA without one): the landmark of models that use
    follow-up features."""
    scans = pd.to_datetime(registry["patient_id"].map(followup_dates), format="%Y-%m-%d")
    days = (scans - pd.to_datetime(registry["therapy_start"], format="%Y-%m-%d")).dt.days
    return days.astype("Int64").rename(LANDMARK)


SCANNER = "scanner"  # cohort column: the baseline CT's scanner/protocol profile (manifest column scanner)


def scanner_column(registry: pd.DataFrame, scanners: dict[str, str]) -> pd.Series:
    """Each patient's baseline CT scanner profile from the manifest's optional ``scanner`` column (NA without one):
    the batch of ComBat harmonisation (``model.harmonise.batch``)."""
    return registry["patient_id"].map(scanners).astype("string").rename(SCANNER)
