"""Per-(track, timepoint) measures from the long lesion table, as RECIST 1.1 counts them (Eisenhauer et al., Eur J
Cancer 2009, section 4.3.2 and Appendix I):

- a track seen at a timepoint in several rows (it split) gets the sum of its fragments' diameters;
- a lesion of one scan in several tracks (they coalesced) counts for the lowest track id; the others get 0 mm;
- a track not seen at a timepoint (``lesion`` NA: it disappeared) gets 0 mm;
- a track seen with a missing diameter, or without a row at a timepoint, is unmeasured there (NaN).

The measure of a track (``diameter_mm``) is the short axis for lymph nodes and the long axis for anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wbrad.response.vocabulary import (
    BASELINE,
    DAY,
    DIAMETER,
    INPUT_COLUMNS,
    LESION,
    LONG,
    NEW,
    NODE,
    SHORT,
    SITE,
    STATUS,
    TIMEPOINT,
    TRACK,
    VOLUME,
)


@dataclass(frozen=True)
class Measurability:
    """RECIST 1.1 section 3.1: measurable non-nodal lesions have a long axis >= 10 mm (CT, slices <= 5 mm), measurable
    (pathological) nodes a short axis >= 15 mm; nodes of 10 to < 15 mm are non-measurable, nodes < 10 mm normal."""

    lesion_mm: float = 10.0
    node_mm: float = 15.0
    node_normal_mm: float = 10.0


def check_input(table: pd.DataFrame) -> None:
    missing = [c for c in INPUT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"the lesion table lacks the columns {missing}")
    if not (table[STATUS] == BASELINE).any():
        raise ValueError("the lesion table has no row with status 'baseline'")
    if table.loc[table[STATUS] == BASELINE, TIMEPOINT].nunique() != 1:
        raise ValueError("rows with status 'baseline' lie at more than one timepoint")


def timepoints(table: pd.DataFrame) -> pd.DataFrame:
    """``timepoint`` and ``day`` of every scan, ordered by day; the baseline first."""
    check_input(table)
    days = table.groupby(TIMEPOINT, sort=False)[DAY].agg(["min", "max"])
    if (days["min"] != days["max"]).any():
        raise ValueError(f"timepoints with more than one day: {list(days.index[days['min'] != days['max']])}")
    out = days["min"].rename(DAY).reset_index().sort_values(DAY, kind="stable").reset_index(drop=True)
    baseline = table.loc[table[STATUS] == BASELINE, TIMEPOINT].iloc[0]
    if out[TIMEPOINT].iloc[0] != baseline:
        raise ValueError(f"baseline {baseline!r} is not the earliest timepoint")
    return out


def _sum_all(values: pd.Series) -> float:
    """The sum, NaN when any value is missing."""
    return float(values.sum()) if values.notna().all() else np.nan


def _coalesced(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Zero the measures of a lesion seen in several tracks, except in its lowest track (and of unseen rows)."""
    rows = table.copy()
    seen = rows[LESION].notna()
    rows.loc[~seen, columns] = 0.0
    owner = rows[seen].groupby([TIMEPOINT, LESION])[TRACK].transform("min")
    rows.loc[owner.index[rows.loc[owner.index, TRACK] != owner], columns] = 0.0
    return rows


def track_measures(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (track, timepoint) the table holds: ``track, timepoint, day, site, origin`` (``baseline`` or
    ``new``), ``first_day`` (the day the track was first seen), ``seen``, the summed axes (and ``volume_ml`` where the
    table has it) and ``diameter_mm``; see the module docstring."""
    check_input(table)
    columns = [LONG, SHORT] + ([VOLUME] if VOLUME in table.columns else [])
    rows = _coalesced(table, columns)
    grouped = rows.groupby([TRACK, TIMEPOINT], sort=False)
    out = grouped.agg(**{DAY: (DAY, "first"), "seen": (LESION, lambda s: bool(s.notna().any()))},
                      **{c: (c, _sum_all) for c in columns}).reset_index()
    ordered = table.sort_values([DAY, TRACK], kind="stable")
    out[SITE] = out[TRACK].map(ordered.dropna(subset=[SITE]).groupby(TRACK)[SITE].first())
    baseline_tracks = set(table.loc[table[STATUS] == BASELINE, TRACK])
    out["origin"] = np.where(out[TRACK].isin(baseline_tracks), BASELINE, NEW)
    out["first_day"] = out[TRACK].map(ordered[ordered[LESION].notna()].groupby(TRACK)[DAY].min())
    out[DIAMETER] = np.where(out[SITE] == NODE, out[SHORT], out[LONG])
    return out.sort_values([DAY, TRACK], kind="stable").reset_index(drop=True)


def wide(measures: pd.DataFrame, order: list[str], column: str = DIAMETER) -> pd.DataFrame:
    """``column`` as a [track x timepoint] frame in ``order`` (NaN where a track has no row: unmeasured)."""
    return measures.pivot(index=TRACK, columns=TIMEPOINT, values=column).reindex(columns=order)


def new_lesions_present(measures: pd.DataFrame, rules: Measurability) -> pd.DataFrame:
    """Rows of tracks that started at a follow-up, at the timepoints where they are seen and count as lesions: a new
    lymph node only from a short axis of ``node_normal_mm`` (a smaller node is normal, RECIST 1.1 section 3.1.1)."""
    new = measures[(measures["origin"] == NEW) & measures["seen"]]
    normal_node = (new[SITE] == NODE) & (new[SHORT] < rules.node_normal_mm)
    return new[~normal_node]
