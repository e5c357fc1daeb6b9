"""iRECIST (Seymour et al., iRECIST: guidelines for response criteria for use in trials testing immunotherapeutics,
Lancet Oncol 2017;18:e143-e152) on top of RECIST 1.1 (:mod:`wbrad.response.recist`).

- New lesions (section "New lesions"): measured as RECIST 1.1 measures targets, up to 5 new target lesions (2 per
  organ), chosen at their first appearance (earlier first, then larger, then lower track id), summed apart from the
  baseline targets (``new_target_sum_mm``); the others are new non-target lesions (``new_nontarget_sum_mm``).
- The first RECIST 1.1 progression is iUPD (unconfirmed); it sets the bar: the sums at that assessment and which
  categories (target, non-target, new lesions) progressed (Table 2).
- At a later assessment, iCPD (confirmed) when, measured from the bar, so that increases add up over assessments:
  a category that progressed grew further (target sum or new-target sum by >= ``confirm_mm``, 5 mm; non-target or
  new non-target measure by more than ``nontarget_increase``, any increase), a category that had not progressed now
  meets RECIST 1.1 progression, or another new lesion appears.
- Otherwise iUPD while progression persists: target PD against the nadir, non-target progression, or new lesions that
  drove the iUPD are still present and the target sum did not shrink since the previous assessment (the EORTC RECIST
  working group's scenarios B and F of its iRECIST questions: new lesions followed by shrinkage give iPR, new lesions
  with no change stay iUPD). NE leaves the bar where it was (Table 3, example 8).
- Else the bar resets and the timepoint is iSD, iPR or iCR against the baseline and the nadir; new lesions seen before
  only block iCR, and make a new iUPD when another one appears or they grow as RECIST 1.1 progression.
- iCPD ends the assessment: later timepoints stay iCPD.
- Best overall response (Table 3): the best of iCR, iPR, iSD up to the first iCPD; else iCPD when progression was
  confirmed, iUPD when not, NE without any call. Confirmation of iCR/iPR is optional (Table 3 assumes none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wbrad.response.measures import new_lesions_present, wide
from wbrad.response.recist import (
    NONTARGET_DIAMETER,
    RECIST_COLUMNS,
    BestResponseRules,
    RecistRules,
    Scheme,
    assess,
    at_least,
    best_of,
    combine,
    grew,
    recist_table,
)
from wbrad.response.vocabulary import (
    CR,
    DAY,
    DIAMETER,
    ICPD,
    ICR,
    INON_CR_NON_UPD,
    IPR,
    ISD,
    IUPD,
    NE,
    NODE,
    NON_CR_NON_PD,
    PD,
    PR,
    SD,
    SHORT,
    SITE,
    TIMEPOINT,
    TRACK,
)

TO_IRECIST = {CR: ICR, PR: IPR, SD: ISD, NON_CR_NON_PD: INON_CR_NON_UPD, NE: NE, PD: IUPD}
IRECIST_SCHEME = Scheme(ICR, IPR, ISD, ICPD, {ICR: 5, IPR: 4, ISD: 3, INON_CR_NON_UPD: 3, ICPD: 2, IUPD: 1, NE: 0})
NEW_COLUMNS = ["new_target_sum_mm", "new_nontarget_sum_mm", "another_new", "bar_day", "target_increase_mm",
               "new_target_increase_mm", "nontarget_increase", "irecist_category"]


@dataclass(frozen=True)
class IrecistRules:
    recist: RecistRules = field(default_factory=RecistRules)
    confirm_mm: float = 5.0
    nontarget_increase: float = 0.0


@dataclass
class Bar:
    """The assessment that set an iUPD: its day, its sums, and which categories progressed there."""

    day: float
    sums: dict[str, float]
    target: bool
    nontarget: bool
    new: bool


def new_targets(measures: pd.DataFrame, rules: RecistRules) -> list[int]:
    """Tracks of the new target lesions: measurable at first appearance, at most 5 (2 per site)."""
    m = rules.measurable
    new = new_lesions_present(measures, m).sort_values([DAY, DIAMETER, TRACK], ascending=[True, False, True])
    first = new.drop_duplicates(TRACK)
    measurable = np.where(first[SITE] == NODE, first[SHORT] >= m.node_mm, first[DIAMETER] >= m.lesion_mm)
    chosen: list[int] = []
    per_site: dict[str, int] = {}
    for track, site in first.loc[measurable, [TRACK, SITE]].itertuples(index=False):
        if len(chosen) < rules.max_targets and per_site.get(site, 0) < rules.max_per_site:
            chosen.append(track)
            per_site[site] = per_site.get(site, 0) + 1
    return chosen


def new_lesion_sums(table: pd.DataFrame, rules: RecistRules) -> pd.DataFrame:
    """Per timepoint: ``new_target_sum_mm``, ``new_nontarget_sum_mm`` (new lesions seen there; 0 before any) and
    ``another_new`` (new lesions seen for the first time there)."""
    a = assess(table, rules)
    present = new_lesions_present(a.measures, rules.measurable)
    chosen = new_targets(a.measures, rules)
    order = list(a.order[TIMEPOINT])
    diameters = wide(present, order).fillna(0.0) if len(present) else pd.DataFrame(columns=order, dtype=float)
    is_target = diameters.index.isin(chosen)
    first = present.groupby(TRACK)[TIMEPOINT].first().value_counts()
    return pd.DataFrame({TIMEPOINT: order, "new_target_sum_mm": diameters[is_target].sum().reindex(order).to_numpy(),
                         "new_nontarget_sum_mm": diameters[~is_target].sum().reindex(order).to_numpy(),
                         "another_new": [int(first.get(t, 0)) for t in order],
                         "new_present": (diameters > 0).sum().reindex(order).to_numpy()})


def _sums(row: pd.Series) -> dict[str, float]:
    return {k: float(row[k]) for k in ("target_sum_mm", "nontarget_sum", "new_target_sum_mm", "new_nontarget_sum_mm")}


def _increase(row: pd.Series, bar: Bar, key: str) -> float:
    return float(row[key]) - bar.sums[key]


def _confirms(row: pd.Series, bar: Bar, new_progression: bool, rules: IrecistRules) -> bool:
    """Whether this assessment confirms the pending iUPD (see the module docstring)."""
    target = (at_least(_increase(row, bar, "target_sum_mm"), rules.confirm_mm) if bar.target
              else row["target_response"] == PD)
    nontarget = (_increase(row, bar, "nontarget_sum") > rules.nontarget_increase if bar.nontarget
                 else bool(row["nontarget_progression"]))
    new = (at_least(_increase(row, bar, "new_target_sum_mm"), rules.confirm_mm)
           or _increase(row, bar, "new_nontarget_sum_mm") > rules.nontarget_increase) if bar.new else new_progression
    return bool(row["another_new"] > 0 or target or nontarget or new)


def _base(row: pd.Series) -> str:
    """iCR, iPR, iSD, non-iCR/non-iUPD or NE from the target and non-target responses, new lesions seen before only
    ruling out iCR."""
    call = combine(row.get("target_response", pd.NA), row["nontarget_response"], 0)
    if call == CR and row["new_present"] > 0:
        call = NON_CR_NON_PD if pd.isna(row.get("target_response", pd.NA)) else PR
    return TO_IRECIST[call]


@dataclass
class _State:
    bar: Bar | None = None
    confirmed: bool = False
    previous_sum: float = np.nan
    new_nadir: tuple[float, float] = (np.nan, np.nan)


def _new_progression(row: pd.Series, state: _State, rules: IrecistRules) -> bool:
    """New lesions seen before grown as RECIST 1.1 progression (new targets by sum, new non-targets by the rule)."""
    r = rules.recist
    nt = r.nontarget if r.nontarget is not None and r.nontarget.column == DIAMETER else NONTARGET_DIAMETER  # in mm
    return (grew(row["new_target_sum_mm"], state.new_nadir[0], r.progression, r.progression_mm)
            or grew(row["new_nontarget_sum_mm"], state.new_nadir[1], nt.growth, nt.min_increase))


def _call(row: pd.Series, state: _State, rules: IrecistRules) -> str:
    if state.confirmed:
        return ICPD
    new_progression = _new_progression(row, state, rules)
    bar = state.bar
    if bar is not None:
        if _confirms(row, bar, new_progression, rules):
            state.confirmed = True
            return ICPD
        shrank = row["target_sum_mm"] < state.previous_sum
        if row["target_response"] == PD or row["nontarget_progression"] or (
                bar.new and row["new_present"] > 0 and not shrank):
            return IUPD
        call = _base(row)
        state.bar = bar if call == NE else None
        return call
    progressed = (row["target_response"] == PD, bool(row["nontarget_progression"]),
                  bool(row["another_new"] > 0 or new_progression))
    if any(progressed):
        state.bar = Bar(float(row[DAY]), _sums(row), *progressed)
        return IUPD
    return _base(row)


def _update(row: pd.Series, state: _State) -> None:
    if pd.notna(row["target_sum_mm"]):
        state.previous_sum = float(row["target_sum_mm"])
    if row["new_present"] > 0 or row["another_new"] > 0:
        state.new_nadir = tuple(np.fmin(state.new_nadir, (row["new_target_sum_mm"], row["new_nontarget_sum_mm"])))


def irecist_table(table: pd.DataFrame, rules: IrecistRules | None = None) -> pd.DataFrame:
    """:func:`wbrad.response.recist.recist_table`'s columns (``category`` the RECIST 1.1 call) plus
    ``new_target_sum_mm, new_nontarget_sum_mm, another_new, bar_day`` (day of the pending iUPD's bar, NA when none),
    ``target_increase_mm, new_target_increase_mm, nontarget_increase`` (above the bar) and ``irecist_category``."""
    rules = rules or IrecistRules()
    rows = recist_table(table, rules.recist).merge(new_lesion_sums(table, rules.recist), on=TIMEPOINT, how="left")
    state = _State(previous_sum=float(rows["target_sum_mm"].iloc[0]))
    calls, bars = [pd.NA], [pd.NA]
    for _, row in rows.iloc[1:].iterrows():
        before = state.bar
        calls.append(_call(row, state, rules))
        bar = state.bar or (before if calls[-1] == ICPD else None)
        bars.append(bar.day if bar else pd.NA)
        _update(row, state)
    rows["irecist_category"], rows["bar_day"] = calls, bars
    bar_rows = rows["bar_day"].map(dict(zip(rows[DAY], rows.index, strict=True)))
    for key, out in (("target_sum_mm", "target_increase_mm"), ("new_target_sum_mm", "new_target_increase_mm"),
                     ("nontarget_sum", "nontarget_increase")):
        reference = rows[key].reindex(bar_rows.dropna().astype(int)).to_numpy()
        rows.loc[bar_rows.notna(), out] = rows.loc[bar_rows.notna(), key].to_numpy() - reference
    return rows[RECIST_COLUMNS + NEW_COLUMNS]


def best_overall_response(table: pd.DataFrame, rules: BestResponseRules | None = None) -> str:
    """iRECIST best overall response of an :func:`irecist_table` (Seymour 2017, Table 3)."""
    return best_of(list(table[DAY]), list(table["irecist_category"]), IRECIST_SCHEME, rules)


def confirmed_progression(table: pd.DataFrame) -> dict[str, object] | None:
    """The first iCPD of an :func:`irecist_table`: ``timepoint`` and ``day`` of the confirming assessment and
    ``iupd_day``, the day of the iUPD it confirmed (an image-derived PFS may date progression at either); None
    without confirmed progression."""
    hits = table.index[table["irecist_category"] == ICPD]
    if not len(hits):
        return None
    row = table.loc[hits[0]]
    return {TIMEPOINT: row[TIMEPOINT], DAY: float(row[DAY]), "iupd_day": float(row["bar_day"])}
