"""iRECIST: the eight best-overall-response scenarios of Seymour et al. 2017, Table 3, each realised as a lesion table
(the diameters are ours: Table 3 gives only the timepoint calls, and where a cell allows several calls one is chosen),
and the confirmation rules behind them."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.test_response_recist import UNMEASURED, build
from wbrad.response import vocabulary as v
from wbrad.response.irecist import best_overall_response, confirmed_progression, irecist_table
from wbrad.response.recist import best_overall_response as recist_best

GONE = (0, 0)
UP = (37, 25)  # 62 mm: 24 % and 12 mm above the baseline's 50 mm, the first iUPD of most scenarios


def scenario(targets: list[tuple[object, object]], new: dict[int, list] | None = None) -> pd.DataFrame:
    """Two liver targets of 30 and 20 mm at baseline, then ``targets`` per follow-up; ``new``: track: lung lesion
    diameters per follow-up (None before it appears)."""
    tracks = {1: ("liver", [30] + [t[0] for t in targets]), 2: ("liver", [20] + [t[1] for t in targets])}
    for track, values in (new or {}).items():
        tracks[track] = ("lung", [None] + values)
    return irecist_table(build(tracks))


def calls(table: pd.DataFrame) -> list[str]:
    return list(table["irecist_category"].iloc[1:])


TABLE3 = {  # example: (follow-up target diameters, new lesions, timepoint calls, iBOR)
    1: ([GONE, GONE, GONE, GONE, GONE], {3: [None, None, None, 12, 18]},
        [v.ICR, v.ICR, v.ICR, v.IUPD, v.ICPD], v.ICR),
    2: ([UP, (18, 12), GONE, GONE, GONE], {3: [None, None, None, None, 15]},
        [v.IUPD, v.IPR, v.ICR, v.ICR, v.IUPD], v.ICR),
    3: ([UP, (18, 12), (20, 15.5), (24, 16), (28, 18)], None, [v.IUPD, v.IPR, v.ISD, v.IUPD, v.ICPD], v.IPR),
    4: ([UP, (27, 18), (18, 12), (18, 12), (18, 12)], {3: [None, None, None, 11, 11], 4: [None] * 4 + [12]},
        [v.IUPD, v.ISD, v.IPR, v.IUPD, v.ICPD], v.IPR),
    5: ([UP, (29, 19), (28, 19), (36, 24), UP], None, [v.IUPD, v.ISD, v.ISD, v.IUPD, v.IUPD], v.ISD),
    6: ([UP, (40, 28), (18, 12), GONE, GONE], None, [v.IUPD] + [v.ICPD] * 4, v.ICPD),
    7: ([UP, (38, 26), (40, 27), (40, 27), (18, 12)], None, [v.IUPD, v.IUPD] + [v.ICPD] * 3, v.ICPD),
    8: ([UP] + [(37, UNMEASURED)] * 4, None, [v.IUPD] + [v.NE] * 4, v.IUPD),
}


@pytest.mark.parametrize("example", sorted(TABLE3))
def test_seymour_table3_scenarios(example: int) -> None:
    targets, new, expected, best = TABLE3[example]
    table = scenario(targets, new)
    assert calls(table) == expected
    assert best_overall_response(table) == best


def test_recist_stops_where_irecist_goes_on() -> None:
    table = scenario(*TABLE3[2][:2])
    assert list(table["category"].iloc[1:3]) == [v.PD, v.PR] and recist_best(table) == v.PD
    assert best_overall_response(table) == v.ICR


def test_increases_add_up_from_the_bar() -> None:
    table = scenario(*TABLE3[7][:2])  # 62 (bar), 64 (+2: iUPD), 67 (+5 over the bar: iCPD)
    assert list(table["target_increase_mm"].iloc[1:4]) == [0.0, 2.0, 5.0]
    assert list(table["bar_day"].iloc[1:4]) == [56, 56, 56]
    assert confirmed_progression(table) == {v.TIMEPOINT: "fu3", v.DAY: 168.0, "iupd_day": 56.0}


def test_new_target_lesions_confirm_by_their_own_sum() -> None:
    table = scenario([(30, 20)] * 3, {3: [12, 15, 17], 4: [10, 10, 10]})
    assert calls(table) == [v.IUPD, v.IUPD, v.ICPD]  # 22, 25 (+3), 27 (+5 in all)
    assert list(table["new_target_sum_mm"].iloc[1:4]) == [22.0, 25.0, 27.0]
    assert list(table["another_new"].iloc[1:4]) == [2, 0, 0]


def test_shrinkage_after_new_lesion_resets_but_no_change_stays_unconfirmed() -> None:
    """The EORTC RECIST working group's iRECIST scenarios B and F (new lesion, then shrinkage: iPR; a PR, then a new
    lesion without change: iUPD)."""
    shrinking = scenario([(27, 18), (18, 12)], {3: [12, 12]})
    assert calls(shrinking) == [v.IUPD, v.IPR]
    unchanged = scenario([(18, 12), (18, 12), (18, 12)], {3: [None, 12, 12]})
    assert calls(unchanged) == [v.IPR, v.IUPD, v.IUPD]
    assert confirmed_progression(unchanged) is None


def test_after_reset_a_known_new_lesion_does_not_trigger_again() -> None:
    table = scenario([(27, 18), (18, 12), (18, 12), GONE], {3: [12, 12, 12, 0]})
    assert calls(table) == [v.IUPD, v.IPR, v.IPR, v.ICR]  # the new lesion blocks iCR until it is gone


def test_nontarget_iupd_confirmed_by_any_further_increase() -> None:
    tracks = {1: ("liver", [30, 30, 30, 30]), 2: ("liver", [20, 20, 20, 20]), 3: ("liver", [15, 25, 25, 26])}
    table = irecist_table(build(tracks))
    assert list(table["nontarget_progression"].iloc[1:]) == [True, True, True]
    assert calls(table) == [v.IUPD, v.IUPD, v.ICPD]
