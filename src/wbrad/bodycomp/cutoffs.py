"""Sarcopenia and myosteatosis flags from a table of published sex-specific cut-offs (params/bodycomp_cutoffs.tsv)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

FLAGS = {"sarcopenia": "smi_cm2m2", "myosteatosis": "muscle_hu"}  # flag: metric of the L3 middle slice
COLUMNS = ["source", "metric", "sex", "bmi_min", "bmi_max", "threshold"]


@dataclass(frozen=True)
class Body:
    """The registry's body size of a patient (None when missing)."""

    sex: str | None = None
    height_cm: float | None = None
    weight_kg: float | None = None

    @property
    def bmi(self) -> float | None:
        if self.height_cm and self.weight_kg:
            return self.weight_kg / (self.height_cm / 100) ** 2
        return None


def read_cutoffs(path: str | Path, source: str) -> pd.DataFrame:
    """The rows of ``source`` in a cut-off table; a clear error for a missing column or an unknown source."""
    table = pd.read_csv(path, sep="\t", comment="#", dtype={"source": str, "metric": str, "sex": str})
    missing = sorted(set(COLUMNS) - set(table.columns))
    if missing:
        raise ValueError(f"{path}: cut-off table lacks columns {missing}")
    rows = table[table["source"] == source]
    if rows.empty:
        raise ValueError(f"{path}: no cut-offs for source {source!r}; known: {sorted(table['source'].unique())}")
    return rows.reset_index(drop=True)


def flag(cutoffs: pd.DataFrame, metric: str, value: float, body: Body) -> tuple[int | None, str | None]:
    """1 when ``value`` is below the cut-off for the patient's sex (and BMI where the cut-off depends on it), else 0;
    None and the reason when it cannot be decided."""
    rows = cutoffs[(cutoffs["metric"] == metric) & (cutoffs["sex"] == body.sex)]
    if value is None or math.isnan(value):
        return None, None  # the metric's own reason is already in qc_reason
    if rows.empty:
        return None, f"no {metric} cut-off for sex {body.sex}"
    if len(rows) > 1:
        if body.bmi is None:
            return None, f"{metric} cut-off needs the BMI (height and weight)"
        rows = rows[(rows["bmi_min"] <= body.bmi) & (body.bmi < rows["bmi_max"])]
    return int(value < float(rows["threshold"].iloc[0])), None


def flags(
    cutoffs: pd.DataFrame | None, metrics: dict[str, float], body: Body
) -> tuple[dict[str, int | None], list[str]]:
    """The sarcopenia and myosteatosis flags from the ``l3_*`` metrics, and notes on those left NA."""
    if cutoffs is None:
        return {}, []
    values, notes = {}, []
    for name, metric in FLAGS.items():
        values[name], note = flag(cutoffs, metric, metrics.get(f"l3_{metric}", float("nan")), body)
        notes += [f"{name} NA: {note}"] if note else []
    return values, notes
