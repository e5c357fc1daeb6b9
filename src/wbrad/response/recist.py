"""RECIST 1.1 (Eisenhauer et al., New response evaluation criteria in solid tumours: revised RECIST guideline (version
1.1), Eur J Cancer 2009;45:228-247) from lesion tracks.

- Baseline (section 3.3): at most ``max_targets`` (5) target lesions in all, at most ``max_per_site`` (2) per organ
  (here: per ``site``; all lymph nodes one organ), chosen among the measurable ones (section 3.1: long axis >= 10 mm,
  nodes short axis >= 15 mm) by size, largest first, ties by track id. Every other lesion is non-target, except nodes
  with a short axis < 10 mm, which are normal and not followed.
- Sum of diameters (section 4.3.2): long axes, short axes of nodes (which keep being measured below 10 mm, so a
  complete response can have a sum > 0); split and coalesced lesions as :mod:`wbrad.response.measures` says.
- Target response (section 4.3.1): PD at >= 20 % and >= 5 mm above the nadir (the smallest sum so far, the baseline
  included); CR when every non-nodal target is gone and every target node is < 10 mm; PR at >= 30 % below the
  baseline sum; SD otherwise; NE when a target is unmeasured, unless the measured ones already make PD (section
  4.4.2).
- Non-target response (section 4.3.3): CR when every non-target is gone and every non-target node is < 10 mm; PD on
  unequivocal progression, which RECIST leaves to the reader: here :class:`NonTargetRule`, growth of the summed
  non-target volume (>= 73 %) or, without volumes, diameter (>= 20 % and >= 5 mm) over its nadir; non-CR/non-PD
  otherwise; NE when one is unmeasured.
- New lesions (section 4.3.4) make PD; the timepoint response combines the three (section 4.4.1, Tables 1 and 2);
  after a CR, disease seen again (a PR, SD or non-CR/non-PD call) is PD (section 4.4.3, the footnote of Table 3).
- Best overall response (section 4.4.3, Table 3): the best timepoint response up to the first PD; optionally CR and PR
  confirmed at an assessment >= ``confirm_days`` later (section 4.6.1), and SD counted only from ``min_sd_days``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from wbrad.response.measures import Measurability, new_lesions_present, timepoints, track_measures, wide
from wbrad.response.vocabulary import (
    CR,
    DAY,
    DIAMETER,
    LESION,
    NE,
    NODE,
    NON_CR_NON_PD,
    NONTARGET,
    NORMAL,
    PD,
    PR,
    SD,
    SHORT,
    SITE,
    TARGET,
    TIMEPOINT,
    TRACK,
    VOLUME,
)

TOLERANCE = 1e-9  # relative changes such as 24 / 20 - 1 are not exactly 0.2 in floating point


@dataclass(frozen=True)
class NonTargetRule:
    """Unequivocal non-target progression: the summed non-target ``column`` (``diameter_mm`` or ``volume_ml``) at
    >= ``growth`` above its nadir and >= ``min_increase`` (mm or ml) above it; ``growth`` None never calls it."""

    column: str = DIAMETER
    growth: float | None = 0.20
    min_increase: float = 5.0


# The RECIST working group's example of unequivocal progression is a 73 % increase in volume (Eisenhauer et al., Eur
# J Cancer 2009, section 4.3.3), 20 % in diameter (1.2^3 = 1.728). The volume of a mask is counted exactly, where a
# small non-target lesion's diameters move by a voxel's width; so volume where the table has it.
NONTARGET_VOLUME = NonTargetRule(VOLUME, 1.2**3 - 1, 0.0)
NONTARGET_DIAMETER = NonTargetRule()


@dataclass(frozen=True)
class RecistRules:
    measurable: Measurability = field(default_factory=Measurability)
    max_targets: int = 5
    max_per_site: int = 2
    response: float = 0.30
    progression: float = 0.20
    progression_mm: float = 5.0
    nontarget: NonTargetRule | None = None  # None: NONTARGET_VOLUME where the table has volumes, else diameter

    def for_table(self, table: pd.DataFrame) -> RecistRules:
        """These rules with the non-target rule resolved for ``table``."""
        if self.nontarget is not None:
            return self
        volumes = VOLUME in table.columns and table.loc[table[LESION].notna(), VOLUME].notna().all()
        return replace(self, nontarget=NONTARGET_VOLUME if volumes else NONTARGET_DIAMETER)


@dataclass(frozen=True)
class BestResponseRules:
    """Best overall response: ``confirm`` CR/PR by a later assessment >= ``confirm_days`` after (else they count as
    SD); SD (also an unconfirmed response) counts only from ``min_sd_days`` after baseline (else NE)."""

    confirm: bool = False
    confirm_days: int = 28
    min_sd_days: int = 0


def at_least(value: float, bar: float) -> bool:
    return bool(value >= bar - TOLERANCE)


def grew(value: float, nadir: float, fraction: float | None, absolute: float) -> bool:
    """Whether ``value`` lies >= ``fraction`` and >= ``absolute`` above ``nadir`` (a nadir of 0 grows by any amount)."""
    if fraction is None or np.isnan(value) or np.isnan(nadir):
        return False
    return at_least(value - nadir, absolute) and at_least(value, nadir * (1 + fraction))


def roles(measures: pd.DataFrame, baseline: str, rules: RecistRules) -> pd.DataFrame:
    """``track, site, diameter_mm, short_axis_mm, measurable, role`` of every baseline track (role ``target``,
    ``nontarget`` or ``normal``), targets first in the order chosen."""
    m = rules.measurable
    base = measures[(measures[TIMEPOINT] == baseline) & (measures["origin"] == "baseline")].copy()
    node = base[SITE] == NODE
    base["measurable"] = np.where(node, base[SHORT] >= m.node_mm, base[DIAMETER] >= m.lesion_mm)
    base = base.sort_values([DIAMETER, TRACK], ascending=[False, True], kind="stable")
    node = (base[SITE] == NODE).to_numpy()
    chosen: list[int] = []
    per_site: dict[str, int] = {}
    for track, site in base.loc[base["measurable"], [TRACK, SITE]].itertuples(index=False):
        if len(chosen) < rules.max_targets and per_site.get(site, 0) < rules.max_per_site:
            chosen.append(track)
            per_site[site] = per_site.get(site, 0) + 1
    normal = node & (base[SHORT] < m.node_normal_mm).to_numpy()
    base["role"] = np.where(base[TRACK].isin(chosen), TARGET, np.where(normal, NORMAL, NONTARGET))
    base["rank"] = base[TRACK].map({t: i for i, t in enumerate(chosen)})
    base = base.sort_values(["rank", TRACK], na_position="last", kind="stable")
    return base[[TRACK, SITE, DIAMETER, SHORT, "measurable", "role"]].reset_index(drop=True)


def select_targets(table: pd.DataFrame, rules: RecistRules | None = None) -> pd.DataFrame:
    """The baseline role of every baseline track of the long lesion table (see :func:`roles`)."""
    rules = rules or RecistRules()
    return roles(track_measures(table), timepoints(table)[TIMEPOINT].iloc[0], rules)


def _gone(values: pd.Series, nodal: pd.Series, normal_mm: float) -> bool:
    """Every non-nodal lesion at 0 mm and every node below ``normal_mm`` (short axis)."""
    return bool((values[~nodal] == 0).all() and (values[nodal] < normal_mm).all())


def target_row(values: pd.Series, nodal: pd.Series, baseline_sum: float, nadir: float,
               rules: RecistRules) -> dict[str, object]:
    """Sum, changes and target response of one follow-up (``values``: the targets' diameters there)."""
    complete = bool(values.notna().all())
    total = float(values.sum()) if complete else np.nan
    change_mm = float(values.sum()) - nadir  # the measured part already shows PD when unmeasured lesions are missing
    progression = grew(float(values.sum()), nadir, rules.progression, rules.progression_mm)
    change_baseline = total / baseline_sum - 1 if baseline_sum > 0 else np.nan
    if progression:
        response = PD
    elif not complete:
        response = NE
    elif _gone(values, nodal, rules.measurable.node_normal_mm):
        response = CR
    else:
        response = PR if at_least(-change_baseline, rules.response) else SD
    return {"target_sum_mm": total, "baseline_sum_mm": baseline_sum, "nadir_mm": nadir,
            "change_baseline": change_baseline, "change_nadir_mm": change_mm if complete or progression else np.nan,
            "change_nadir": change_mm / nadir if nadir > 0 and (complete or progression) else np.nan,
            "target_response": response}


def nontarget_row(values: pd.Series, measure: pd.Series, nodal: pd.Series, nadir: float,
                  rules: RecistRules) -> dict[str, object]:
    """Summed measure and response of the non-target lesions at one follow-up (NA response when there are none)."""
    if values.empty:
        return {"nontarget_sum": np.nan, "nontarget_nadir": np.nan, "nontarget_progression": False,
                "nontarget_response": pd.NA}
    rule = rules.nontarget
    progression = grew(float(measure.sum()), nadir, rule.growth, rule.min_increase)
    if progression:
        response = PD
    elif values.isna().any() or measure.isna().any():
        response = NE
    else:
        response = CR if _gone(values, nodal, rules.measurable.node_normal_mm) else NON_CR_NON_PD
    return {"nontarget_sum": float(measure.sum()) if measure.notna().all() else np.nan, "nontarget_nadir": nadir,
            "nontarget_progression": progression, "nontarget_response": response}


def combine(target: object, nontarget: object, new_lesions: int) -> str:
    """Timepoint response from the target and non-target responses (NA: none at baseline) and the count of new
    lesions (RECIST 1.1 section 4.4.1, Table 1; Table 2 for non-target disease only)."""
    if PD in (str(target), str(nontarget)) or new_lesions > 0:
        return PD
    if pd.isna(target):
        return NE if pd.isna(nontarget) else str(nontarget)
    if target == CR:
        return CR if pd.isna(nontarget) or nontarget == CR else PR
    return str(target)


@dataclass
class Assessment:
    """What every timepoint's call needs: the measures, the baseline roles and the wide diameter tables."""

    order: pd.DataFrame
    measures: pd.DataFrame
    roles: pd.DataFrame
    diameters: pd.DataFrame
    nontarget_measure: pd.DataFrame

    def tracks(self, role: str) -> tuple[list[int], pd.Series]:
        chosen = self.roles[self.roles["role"] == role]
        return list(chosen[TRACK]), pd.Series((chosen[SITE] == NODE).to_numpy(), index=chosen[TRACK].to_numpy())


def assess(table: pd.DataFrame, rules: RecistRules) -> Assessment:
    rules = rules.for_table(table)
    order = timepoints(table)
    measures = track_measures(table)
    names = list(order[TIMEPOINT])
    return Assessment(order, measures, roles(measures, names[0], rules), wide(measures, names),
                      wide(measures, names, rules.nontarget.column))


def _nadir(previous: float, value: object) -> float:
    return previous if pd.isna(value) else min(previous, float(value))


def recist_table(table: pd.DataFrame, rules: RecistRules | None = None) -> pd.DataFrame:
    """One row per timepoint (the baseline first, with its sums and no category): ``timepoint, day, targets,
    target_sum_mm, baseline_sum_mm, nadir_mm, change_baseline, change_nadir_mm, change_nadir, target_response,
    nontarget_sum, nontarget_nadir, nontarget_progression, nontarget_response, new_lesions, category``. Changes are
    fractions (-0.3 is 30 % below); ``nadir_mm`` is the reference of that timepoint's call (the smallest complete sum
    before it); ``nontarget_sum`` is in the unit of the non-target rule's column."""
    rules = (rules or RecistRules()).for_table(table)
    a = assess(table, rules)
    targets, target_nodal = a.tracks(TARGET)
    nontargets, nontarget_nodal = a.tracks(NONTARGET)
    new = new_lesions_present(a.measures, rules.measurable).groupby(TIMEPOINT)[TRACK].nunique()
    baseline = a.order[TIMEPOINT].iloc[0]
    baseline_sum = float(a.diameters.loc[targets, baseline].sum()) if targets else np.nan
    nt_nadir = float(a.nontarget_measure.loc[nontargets, baseline].sum()) if nontargets else np.nan
    nadir = baseline_sum
    rows = [{TIMEPOINT: baseline, DAY: a.order[DAY].iloc[0], "targets": len(targets), "target_sum_mm": baseline_sum,
             "baseline_sum_mm": baseline_sum, "nontarget_sum": nt_nadir, "new_lesions": 0, "category": pd.NA}]
    for tp, day in a.order.iloc[1:].itertuples(index=False):
        row = {TIMEPOINT: tp, DAY: day, "targets": len(targets)}
        if targets:
            row |= target_row(a.diameters.loc[targets, tp], target_nodal, baseline_sum, nadir, rules)
        row |= nontarget_row(a.diameters.loc[nontargets, tp], a.nontarget_measure.loc[nontargets, tp],
                             nontarget_nodal, nt_nadir, rules)
        row["new_lesions"] = int(new.get(tp, 0))
        row["category"] = combine(row.get("target_response", pd.NA), row["nontarget_response"], row["new_lesions"])
        if CR in [r["category"] for r in rows[1:]] and row["category"] in (PR, SD, NON_CR_NON_PD):
            row["category"] = PD  # disease seen again after a CR (RECIST 1.1 section 4.4.3, Table 3 footnote)
        nadir, nt_nadir = _nadir(nadir, row.get("target_sum_mm")), _nadir(nt_nadir, row["nontarget_sum"])
        rows.append(row)
    return pd.DataFrame(rows, columns=RECIST_COLUMNS)


RECIST_COLUMNS = [TIMEPOINT, DAY, "targets", "target_sum_mm", "baseline_sum_mm", "nadir_mm", "change_baseline",
                  "change_nadir_mm", "change_nadir", "target_response", "nontarget_sum", "nontarget_nadir",
                  "nontarget_progression", "nontarget_response", "new_lesions", "category"]


@dataclass(frozen=True)
class Scheme:
    """The words of one set of criteria for the best overall response."""

    complete: str
    partial: str
    stable: str
    progression: str  # the call that ends the assessment
    rank: dict[str, int]


RECIST_SCHEME = Scheme(CR, PR, SD, PD, {CR: 4, PR: 3, SD: 2, NON_CR_NON_PD: 2, PD: 1, NE: 0})


def _confirmed(i: int, calls: list[tuple[float, str]], scheme: Scheme, rules: BestResponseRules) -> str:
    """The response at ``calls[i]`` as confirmation lets it count: CR by a later CR, PR (or a CR confirmed only by a
    PR) by a later CR or PR, >= ``confirm_days`` after; unconfirmed, stable disease."""
    day, call = calls[i]
    later = {c for d, c in calls[i + 1:] if d - day >= rules.confirm_days}
    if call == scheme.complete and scheme.complete in later:
        return scheme.complete
    return scheme.partial if later & {scheme.complete, scheme.partial} else scheme.stable


def _counted(i: int, calls: list[tuple[float, str]], scheme: Scheme, rules: BestResponseRules,
             baseline_day: float) -> str:
    day, call = calls[i]
    if rules.confirm and call in (scheme.complete, scheme.partial):
        call = _confirmed(i, calls, scheme, rules)
    stable = scheme.rank.get(call) == scheme.rank[scheme.stable]
    return NE if stable and day - baseline_day < rules.min_sd_days else call


def best_of(days: Sequence[float], categories: Sequence[object], scheme: Scheme,
            rules: BestResponseRules | None = None) -> str:
    """Best overall response over the follow-ups' ``categories`` (NA ones, e.g. the baseline's, skipped) up to and
    including the first ``scheme.progression``; the first day is the baseline's."""
    rules = rules or BestResponseRules()
    calls = [(float(d), str(c)) for d, c in zip(days, categories, strict=True) if pd.notna(c)]
    stop = next((i for i, (_, c) in enumerate(calls) if c == scheme.progression), len(calls) - 1)
    calls = calls[: stop + 1]
    counted = [_counted(i, calls, scheme, rules, float(days[0])) for i in range(len(calls))]
    return max(counted, key=lambda c: scheme.rank[c], default=NE)


def best_overall_response(table: pd.DataFrame, rules: BestResponseRules | None = None) -> str:
    """RECIST 1.1 best overall response of a :func:`recist_table` (section 4.4.3)."""
    return best_of(list(table[DAY]), list(table["category"]), RECIST_SCHEME, rules)
