"""RECIST 1.1 from lesion tracks: target selection, sums with split and merged lesions, the edge cases of the
timepoint call (Eisenhauer et al. 2009) and the best overall response."""

from __future__ import annotations

import pandas as pd
import pytest

from wbrad.response import vocabulary as v
from wbrad.response.recist import (
    BestResponseRules,
    NonTargetRule,
    RecistRules,
    best_overall_response,
    recist_table,
    select_targets,
)

UNMEASURED = "unmeasured"


def build(tracks: dict[int, tuple[str, list]], step_days: int = 56) -> pd.DataFrame:
    """The long lesion table from ``track: (site, [value per timepoint])``: a number is the RECIST measure (the short
    axis of a node, whose long axis is then 1.5 x; the long axis otherwise), a list the fragments of a split lesion,
    None not seen (not yet there for a new track, disappeared afterwards), ``UNMEASURED`` seen without diameters."""
    rows, labels = [], {}
    for track, (site, values) in sorted(tracks.items()):
        first = next(i for i, x in enumerate(values) if x is not None)
        for i, value in enumerate(values[first:], start=first):
            tp = "baseline" if i == 0 else f"fu{i}"
            base = {v.TRACK: track, v.TIMEPOINT: tp, v.DAY: i * step_days, v.SITE: site}
            if value is None:
                rows.append(base | {v.LESION: pd.NA, v.STATUS: v.DISAPPEARED, v.LONG: pd.NA, v.SHORT: pd.NA})
                continue
            status = v.BASELINE if i == 0 else v.NEW if i == first else v.MATCHED
            fragments = value if isinstance(value, list) else [value]
            for part in fragments:
                labels[tp] = labels.get(tp, 0) + 1
                long, short = _axes(site, part)
                rows.append(base | {v.LESION: labels[tp], v.STATUS: v.SPLIT if len(fragments) > 1 else status,
                                    v.LONG: long, v.SHORT: short})
    table = pd.DataFrame(rows)
    return table.astype({v.LONG: "Float64", v.SHORT: "Float64", v.LESION: "Int64"}).astype(
        {v.LONG: float, v.SHORT: float})


def _axes(site: str, value: object) -> tuple[float, float]:
    if value == UNMEASURED:
        return float("nan"), float("nan")
    if site == v.NODE:
        return 1.5 * float(value), float(value)
    return float(value), 0.6 * float(value)


def categories(table: pd.DataFrame, rules: RecistRules | None = None) -> list[str]:
    return list(recist_table(table, rules)["category"].iloc[1:])


def test_target_selection_limits_and_nodes() -> None:
    tracks = {t: ("liver", [40 - t]) for t in range(1, 5)}  # 39, 38, 37, 36 mm: two targets
    tracks |= {5: ("lung", [12]), 6: ("lung", [9]),  # 9 mm: not measurable
               7: (v.NODE, [16]), 8: (v.NODE, [12]), 9: (v.NODE, [8]),  # short axes: target, non-target, normal
               10: ("bone", [25]), 11: ("subcutaneous", [20])}
    roles = select_targets(build(tracks))
    targets = roles[roles["role"] == v.TARGET]
    assert list(targets[v.TRACK]) == [1, 2, 10, 11, 7]  # 5 in all, largest first; node 7 by its 16 mm short axis
    role = dict(zip(roles[v.TRACK], roles["role"], strict=True))
    assert role[5] == v.NONTARGET  # the sixth measurable lesion
    assert (role[3], role[4], role[6], role[8], role[9]) == (v.NONTARGET,) * 4 + (v.NORMAL,)
    measurable = dict(zip(roles[v.TRACK], roles["measurable"], strict=True))
    assert not measurable[8] and not measurable[6] and measurable[3]  # node 8: 18 mm long but 12 mm short axis


def test_selection_is_deterministic_on_ties() -> None:
    roles = select_targets(build({t: ("liver", [20]) for t in (7, 3, 5)}))
    assert list(roles.loc[roles["role"] == v.TARGET, v.TRACK]) == [3, 5]


def test_complete_response_with_nodes_still_measured() -> None:
    table = recist_table(build({1: ("liver", [20, 0]), 2: (v.NODE, [16, 8])}))
    fu = table.iloc[1]
    assert fu["target_sum_mm"] == 8.0 and fu["baseline_sum_mm"] == 36.0 and fu["category"] == v.CR


def test_disease_seen_again_after_a_complete_response_is_progression() -> None:
    # liver target 30 -> 0 (CR) -> 6 mm: 80 % below baseline (a PR by the sum) but disease after a CR: PD
    assert categories(build({1: ("liver", [30, 0, 6])})) == [v.CR, v.PD]
    assert categories(build({1: ("liver", [30, 0, 0])})) == [v.CR, v.CR]
    assert categories(build({1: ("liver", [30, 10, 6])})) == [v.PR, v.PR]  # no CR before: still PR


def test_node_at_ten_mm_is_not_complete_response() -> None:
    assert categories(build({1: ("liver", [20, 0]), 2: (v.NODE, [16, 10])})) == [v.PR]


def test_twenty_percent_but_under_five_mm_stays_stable() -> None:
    table = recist_table(build({1: ("liver", [20, 24, 25])}))
    assert list(table["category"].iloc[1:]) == [v.SD, v.PD]
    assert table["change_nadir"].iloc[1] == pytest.approx(0.2) and table["change_nadir_mm"].iloc[1] == 4.0
    assert table["change_nadir_mm"].iloc[2] == 5.0


def test_new_lesion_is_progression() -> None:
    table = recist_table(build({1: ("liver", [30, 28]), 2: ("lung", [None, 6])}))
    assert table["new_lesions"].iloc[1] == 1 and table["target_response"].iloc[1] == v.SD
    assert table["category"].iloc[1] == v.PD


def test_new_normal_sized_node_is_no_new_lesion() -> None:
    assert categories(build({1: ("liver", [30, 28]), 2: (v.NODE, [None, 8])})) == [v.SD]


def test_progression_from_nadir_not_baseline() -> None:
    table = recist_table(build({1: ("liver", [100, 50, 62])}))
    assert list(table["category"].iloc[1:]) == [v.PR, v.PD]
    assert table["nadir_mm"].iloc[2] == 50.0 and table["change_baseline"].iloc[2] == pytest.approx(-0.38)
    assert table["change_nadir"].iloc[2] == pytest.approx(0.24)


def test_split_fragments_are_summed() -> None:
    table = recist_table(build({1: ("liver", [30, [10, 8]]), 2: ("lung", [20, 20])}))
    assert table["target_sum_mm"].iloc[1] == 38.0


def test_merged_lesion_counts_once_for_the_lowest_track() -> None:
    table = build({1: ("liver", [30, 40]), 2: ("liver", [20, 40]), 3: ("lung", [15, 15])})
    fu = (table[v.TIMEPOINT] == "fu1") & table[v.TRACK].isin([1, 2])
    table.loc[fu, v.LESION] = 9  # one mask of 40 mm in the follow-up, in tracks 1 and 2
    table.loc[fu, v.STATUS] = v.MERGED
    out = recist_table(table)
    assert out["baseline_sum_mm"].iloc[1] == 65.0 and out["target_sum_mm"].iloc[1] == 55.0


def test_unmeasured_target_is_not_evaluable_unless_already_progressing() -> None:
    assert categories(build({1: ("liver", [30, 29]), 2: ("lung", [20, UNMEASURED])})) == [v.NE]
    assert categories(build({1: ("liver", [30, 65]), 2: ("lung", [20, UNMEASURED])})) == [v.PD]  # 65 >= 1.2 x 50


def test_nontarget_progression_rule() -> None:
    tracks = {1: ("liver", [30, 30, 30]), 2: ("liver", [28, 28, 28]), 3: ("liver", [25, 29, 45])}  # 3: non-target
    table = recist_table(build(tracks))
    assert list(table["nontarget_progression"].iloc[1:]) == [False, True]  # +4 mm (16 %), +20 mm (80 %)
    assert list(table["nontarget_nadir"].iloc[1:]) == [25.0, 25.0]
    assert list(table["category"].iloc[1:]) == [v.SD, v.PD]
    assert categories(build(tracks), RecistRules(nontarget=NonTargetRule(growth=None))) == [v.SD, v.SD]
    assert categories(build(tracks), RecistRules(nontarget=NonTargetRule(growth=1.0))) == [v.SD, v.SD]
    assert categories(build(tracks), RecistRules(nontarget=NonTargetRule(min_increase=3.0, growth=0.1))) == [v.PD] * 2


def test_nontarget_progression_by_volume_where_the_table_has_volumes() -> None:
    table = build({1: ("liver", [30, 30, 30]), 2: ("liver", [28, 28, 28]), 3: ("liver", [10, 13, 11])})
    nontarget = table[v.TRACK] == 3
    table[v.VOLUME] = 4.0  # targets unchanged
    # diameters +30 % and +3 mm then +10 %, but the volume grows 40 % (a voxel's width on a small lesion), then 80 %
    table.loc[nontarget, v.VOLUME] = [0.5, 0.7, 0.9]
    out = recist_table(table)
    assert list(out["nontarget_progression"].iloc[1:]) == [False, True]  # 1.2^3 = 1.728: 73 % in volume
    assert list(out["nontarget_sum"]) == pytest.approx([0.5, 0.7, 0.9])  # in ml
    assert list(out["category"].iloc[1:]) == [v.SD, v.PD]
    assert categories(table.drop(columns=v.VOLUME)) == [v.SD, v.SD]  # in diameter: +3 mm, +1 mm (< 5 mm)


def test_nontarget_only_disease() -> None:
    assert categories(build({1: ("lung", [8, 8, 0]), 2: (v.NODE, [12, 12, 9])})) == [v.NON_CR_NON_PD, v.CR]


def test_complete_response_needs_nontargets_gone() -> None:
    assert categories(build({1: ("liver", [30, 0]), 2: ("lung", [8, 4])})) == [v.PR]
    assert categories(build({1: ("liver", [30, 0]), 2: ("lung", [8, 0])})) == [v.CR]


def test_best_overall_response_stops_at_progression() -> None:
    table = recist_table(build({1: ("liver", [30, 31, 40, 10])}))
    assert list(table["category"].iloc[1:]) == [v.SD, v.PD, v.PR]
    assert best_overall_response(table) == v.SD
    assert best_overall_response(table, BestResponseRules(min_sd_days=60)) == v.PD


def test_best_overall_response_with_confirmation() -> None:
    responding = recist_table(build({1: ("liver", [30, 20, 24, 20])}))  # PR, SD (+4 mm), PR: 56 days apart
    assert best_overall_response(responding) == v.PR
    assert best_overall_response(responding, BestResponseRules(confirm=True)) == v.PR  # fu1 confirmed at fu3
    once = recist_table(build({1: ("liver", [30, 30, 20, 29])}))  # SD, PR, SD
    assert best_overall_response(once) == v.PR
    assert best_overall_response(once, BestResponseRules(confirm=True)) == v.SD
    complete = recist_table(build({1: ("liver", [30, 0, 0])}))
    assert best_overall_response(complete, BestResponseRules(confirm=True)) == v.CR
    assert best_overall_response(complete, BestResponseRules(confirm=True, confirm_days=60)) == v.SD
    relapse = recist_table(build({1: ("liver", [30, 0, 15])}))  # after a CR (nadir 0), any regrowth is PD
    assert list(relapse["category"].iloc[1:]) == [v.CR, v.PD]
    assert best_overall_response(relapse) == v.CR
    assert best_overall_response(relapse, BestResponseRules(confirm=True)) == v.SD
    short = recist_table(build({1: ("liver", [30, 30])}, step_days=28))
    assert best_overall_response(short, BestResponseRules(min_sd_days=42)) == v.NE
