"""The cohort's response columns from hand-made tracks and response tables (numbers computed by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wbrad.response.cohort import NAMES, lesion_shares, patient_response, response_columns
from wbrad.response.irecist import irecist_table
from wbrad.tracking.run import label_tracks

# Three baseline lesions: 1 (liver, 40 -> 50 mm: +25 %, +10 mm), 2 (node, short axis 20 -> 12 mm: -40 %), 3 (lung,
# 20 mm, gone at fu1); a new lesion 4 at fu1.
TRACKS = pd.DataFrame({
    "patient_id": "P1",
    "track": [1, 2, 3, 1, 2, 3, 4],
    "timepoint": ["baseline"] * 3 + ["fu1"] * 4,
    "day": [0] * 3 + [60] * 4,
    "lesion": pd.array([1, 2, 3, 2, 1, pd.NA, 3], "Int64"),
    "status": ["baseline"] * 3 + ["matched", "matched", "disappeared", "new"],
    "site": ["liver", "lymph_node", "lung", "liver", "lymph_node", "lung", "liver"],
    "long_axis_mm": [40.0, 25.0, 20.0, 50.0, 16.0, np.nan, 12.0],
    "short_axis_mm": [30.0, 20.0, 15.0, 35.0, 12.0, np.nan, 10.0],
    "volume_ml": [20.0, 5.0, 3.0, 30.0, 2.0, np.nan, 1.0],
})


def test_lesion_shares_at_the_followup() -> None:
    shares = lesion_shares(TRACKS, "fu1")
    assert shares["tracked_lesions"] == 3 and shares["tracked_new_lesions"] == 1
    assert shares["tracked_progressing_share"] == pytest.approx(1 / 3)  # lesion 1
    assert shares["tracked_responding_share"] == pytest.approx(2 / 3)  # lesion 2 (-40 %) and 3 (gone)
    assert shares["tracked_volume_rel_median"] == pytest.approx(-0.6)  # +0.5, -0.6, -1.0
    assert shares["tracked_volume_rate_median"] == pytest.approx(-3.0 / 60)  # +10, -3, -3 ml in 60 days


def test_a_lesion_the_scan_range_cuts_counts_in_no_share() -> None:
    cut = TRACKS.copy()
    cut.loc[4, "short_axis_mm"] = np.nan  # node 2 at fu1: cut by the image border, no short axis
    shares = lesion_shares(cut, "fu1")
    assert shares["tracked_responding_share"] == pytest.approx(1 / 2)  # lesion 3 (gone) of 1 and 3; not 0/3 grown
    assert shares["tracked_progressing_share"] == pytest.approx(1 / 2)  # lesion 1 of 1 and 3


def test_a_new_lesion_is_progression_and_the_image_pfs_is_censored_until_confirmed() -> None:
    response = irecist_table(TRACKS.drop(columns=["patient_id", "volume_ml"])).rename(
        columns={"category": "recist_category"})
    assert response["recist_category"].iloc[1] == "PD"  # a new lesion
    out = patient_response(response, start_days=14.0, os_days=400.0, os_event=0)
    assert out["recist_bor"] == "PD" and out["irecist_bor"] == "iUPD"  # not confirmed: no later scan
    assert np.isnan(out["irecist_progression_days"]) and out["ipfs_event"] == 0 and out["ipfs_days"] == 74.0
    died = patient_response(response, start_days=14.0, os_days=120.0, os_event=1)
    assert died["ipfs_event"] == 1 and died["ipfs_days"] == 120.0


def test_response_columns_per_patient() -> None:
    registry = pd.DataFrame({"patient_id": ["P1", "P2"], "therapy_start": ["2024-01-01", "2024-01-01"],
                             "os_days": [400, 300], "os_event": [0, 1]})
    response = irecist_table(TRACKS.drop(columns=["patient_id", "volume_ml"])).rename(
        columns={"category": "recist_category"})
    table = response_columns(registry, {"P1": TRACKS}, {"P1": response}, {"P1": "2024-01-15"}, "fu1")
    assert list(table.columns) == NAMES and list(table.index) == ["P1"]
    assert table.loc["P1", "ipfs_days"] == 74.0 and table.loc["P1", "tracked_lesions"] == 3


def test_shared_labels_make_one_track_per_label() -> None:
    maps = {"baseline": pd.DataFrame({"lesion": [1, 2]}), "fu1": pd.DataFrame({"lesion": [2, 3]}),
            "fu2": pd.DataFrame({"lesion": [1]})}
    tracks = label_tracks(maps, "baseline")
    at = {tp: dict(zip(rows["track"], rows["status"], strict=True)) for tp, rows in tracks.groupby("timepoint")}
    assert at["baseline"] == {1: "baseline", 2: "baseline"}
    assert at["fu1"] == {1: "disappeared", 2: "matched", 3: "new"}
    assert at["fu2"] == {1: "matched", 2: "disappeared", 3: "disappeared"}  # lesion 1 re-found


def test_a_patient_without_a_baseline_lesion_is_not_evaluable() -> None:
    from wbrad.tracking.run import patient_response as tracked_response

    new_only = TRACKS[TRACKS["status"] == "new"]  # lesions only at the follow-up
    table = tracked_response(new_only, {}, None, {"baseline": 0, "fu1": 60})
    assert table["timepoint"].to_list() == ["baseline", "fu1"]
    assert table["recist_category"].iloc[1] == "NE" and table["irecist_category"].iloc[1] == "NE"
    out = patient_response(table, start_days=14.0, os_days=400.0, os_event=0)
    assert out["recist_bor"] == "NE" and out["ipfs_event"] == 0 and out["ipfs_days"] == 74.0
