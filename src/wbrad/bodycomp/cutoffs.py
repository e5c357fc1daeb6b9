"""Sarcopenia and myosteatosis flags from a table of published sex-specific cut-offs (params/bodycomp_cutoffs.tsv)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Cutoff:
    """One row of the cut-off table: a value of ``metric`` below ``threshold`` flags, for ``sex`` and a BMI in
    [``bmi_min``, ``bmi_max``)."""

    source: str
    metric: str
    sex: str
    bmi_min: float
    bmi_max: float
    threshold: float


def read_cutoffs(path: str | Path, source: str) -> tuple[Cutoff, ...]:
    """The rows of ``source`` in a cut-off table (``#`` starts a comment line); a clear error for a missing column or
    an unknown source."""
    with open(path, newline="", encoding="utf-8") as f:
        table = list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))
    missing = sorted(set(COLUMNS) - set(table[0] if table else ()))
    if missing:
        raise ValueError(f"{path}: cut-off table lacks columns {missing}")
    rows = tuple(Cutoff(r["source"], r["metric"], r["sex"], *(float(r[c]) for c in COLUMNS[3:])) for r in table
                 if r["source"] == source)
    if not rows:
        raise ValueError(f"{path}: no cut-offs for source {source!r}; known: {sorted({r['source'] for r in table})}")
    return rows


def flag(cutoffs: Sequence[Cutoff], metric: str, value: float, body: Body) -> tuple[int | None, str | None]:
    """1 when ``value`` is below the cut-off for the patient's sex (and BMI where the cut-off depends on it), else 0;
    None and the reason when it cannot be decided."""
    rows = [c for c in cutoffs if c.metric == metric and c.sex == body.sex]
    if value is None or math.isnan(value):
        return None, None  # the metric's own reason is already in qc_reason
    if not rows:
        return None, f"no {metric} cut-off for sex {body.sex}"
    if len(rows) > 1:
        if body.bmi is None:
            return None, f"{metric} cut-off needs the BMI (height and weight)"
        rows = [c for c in rows if c.bmi_min <= body.bmi < c.bmi_max]
    return int(value < rows[0].threshold), None


def flags(
    cutoffs: Sequence[Cutoff] | None, metrics: dict[str, float], body: Body
) -> tuple[dict[str, int | None], list[str]]:
    """The sarcopenia and myosteatosis flags from the ``l3_*`` metrics, and notes on those left NA."""
    if cutoffs is None:
        return {}, []
    values, notes = {}, []
    for name, metric in FLAGS.items():
        values[name], note = flag(cutoffs, metric, metrics.get(f"l3_{metric}", float("nan")), body)
        notes += [f"{name} NA: {note}"] if note else []
    return values, notes
