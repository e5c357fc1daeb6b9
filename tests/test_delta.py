"""Delta-radiomics on hand-made lesion tables: matching, aggregate and per-lesion changes computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wbrad.delta.changes import abs_rel
from wbrad.delta.run import patient_delta
from wbrad.io import read_tsv, write_tsv

MEAN = "original_firstorder_Mean"
COLUMNS = ["patient_id", "timepoint", "modality", "lesion", "status", "reason", "volume_ml", "centroid_x_mm",
           "centroid_y_mm", "centroid_z_mm", MEAN]
DATES = {"baseline": "2024-01-10", "fu1": "2024-03-10", "fu2": "2024-06-08"}
# Follow-up labels differ from baseline's: fu1 label 4 is baseline lesion 1, 1 is 3, 2 is new; lesion 2 disappeared.
TRACKS = [(1, "baseline", 1, "baseline"), (2, "baseline", 2, "baseline"), (3, "baseline", 3, "baseline"),
          (1, "fu1", 4, "matched"), (2, "fu1", None, "disappeared"), (3, "fu1", 1, "matched"), (4, "fu1", 2, "new"),
          *[(k, "fu2", None, "disappeared") for k in (1, 2, 3, 4)]]


def _write(root: Path, timepoint: str, modality: str, lesions: list[tuple[int, float, float]],
           patient: str = "P1") -> tuple[tuple[str, str], Path]:
    """Write one scan's lesion table for (lesion, volume_ml, mean) rows (header only if none); the file's name is
    deliberately uninformative: the stage takes timepoint and modality from the mapping, never from the path."""
    rows = [[patient, timepoint, modality, k, "ok", pd.NA, v, 0.0, 0.0, 0.0, m] for k, v, m in lesions]
    path = root / f"scan_{timepoint}_{modality}_{len(lesions)}.tsv"
    write_tsv(pd.DataFrame(rows, columns=COLUMNS), path)
    return (timepoint, modality), path


@pytest.fixture
def outputs(tmp_path: Path) -> dict[str, pd.DataFrame]:
    return run_delta(tmp_path, "baseline", DATES)


def run_delta(root: Path, baseline: str, dates: dict[str, str]) -> dict[str, pd.DataFrame]:
    """The stage on one hand-made patient whose baseline timepoint is called ``baseline``."""
    tables = dict([
        _write(root, "fu1", "CT", [(4, 1.0, 15.0), (1, 2.0, 20.0), (2, 4.0, 50.0)]),  # see TRACKS
        _write(root, baseline, "CT", [(1, 2.0, 10.0), (2, 6.0, 30.0), (3, 1.0, 20.0)]),
        _write(root, baseline, "PT", [(1, 2.0, 5.0)]),
        _write(root, "fu1", "PT", []),  # scanned, no lesion left
        _write(root, "fu2", "CT", []),  # no PET at fu2
    ])
    out = {name: root / f"{name}.tsv" for name in ("aggregates", "delta", "delta_lesions")}
    tracks = root / "tracks.tsv"
    write_tsv(pd.DataFrame(TRACKS, columns=["track", "timepoint", "lesion", "status"]).astype({"lesion": "Int64"})
              .assign(patient_id="P1", day=lambda t: t["timepoint"].map({"baseline": 0, "fu1": 60, "fu2": 150}),
                      timepoint=lambda t: t["timepoint"].replace("baseline", baseline)), tracks)
    patient_delta("P1", tables, dates, baseline, out["aggregates"], out["delta"], out["delta_lesions"], tracks)
    return {name: read_tsv(path) for name, path in out.items()}


def test_a_baseline_of_another_name_gives_the_same_tables(tmp_path: Path, outputs: dict[str, pd.DataFrame]) -> None:
    dates = {"bl" if tp == "baseline" else tp: day for tp, day in DATES.items()}
    renamed = run_delta(tmp_path / "bl", "bl", dates)
    for name, table in outputs.items():
        pd.testing.assert_frame_equal(renamed[name].replace("bl", "baseline"), table)


def test_abs_rel_is_na_for_a_zero_or_missing_baseline() -> None:
    fu = pd.DataFrame({"a": [3.0, 1.0, 2.0, np.nan]})
    bl = pd.DataFrame({"a": [2.0, 0.0, np.nan, 1.0]})
    out = abs_rel(fu, bl)
    np.testing.assert_array_equal(out["abs_a"], [1.0, 1.0, np.nan, np.nan])
    np.testing.assert_array_equal(out["rel_a"], [0.5, np.nan, np.nan, np.nan])


def test_aggregates_per_scan(outputs: dict[str, pd.DataFrame]) -> None:
    agg = outputs["aggregates"].set_index(["timepoint", "modality"])
    assert list(agg.index) == [("baseline", "CT"), ("baseline", "PT"), ("fu1", "CT"), ("fu1", "PT"), ("fu2", "CT")]
    assert agg.loc[("baseline", "CT"), ["lesion_count", "total_volume_ml"]].to_list() == [3, 9.0]
    assert agg.loc[("baseline", "CT"), f"vwmean_{MEAN}"] == pytest.approx(220 / 9)
    assert agg.loc[("fu1", "CT"), f"largest_{MEAN}"] == 50.0
    assert agg.loc[("fu1", "PT"), ["lesion_count", "total_volume_ml"]].to_list() == [0, 0.0]
    assert np.isnan(agg.loc[("fu1", "PT"), f"largest_{MEAN}"])


def test_delta_from_baseline(outputs: dict[str, pd.DataFrame]) -> None:
    delta = outputs["delta"].set_index("timepoint")
    assert list(delta.columns[:2]) == ["patient_id", "baseline_days"]
    assert delta["baseline_days"].to_dict() == {"fu1": 60, "fu2": 150}
    fu1 = delta.loc["fu1"]
    assert fu1["abs_ct_lesion_count"] == 0 and fu1["rel_ct_lesion_count"] == 0
    assert fu1["abs_ct_total_volume_ml"] == -2.0 and fu1["rel_ct_total_volume_ml"] == pytest.approx(-2 / 9)
    assert fu1[f"abs_ct_largest_{MEAN}"] == 20.0 and fu1[f"rel_ct_largest_{MEAN}"] == pytest.approx(2 / 3)
    assert fu1[f"abs_ct_vwmean_{MEAN}"] == pytest.approx(255 / 7 - 220 / 9)
    assert fu1["abs_pet_lesion_count"] == -1 and fu1["rel_pet_total_volume_ml"] == -1.0
    assert np.isnan(fu1[f"abs_pet_largest_{MEAN}"])
    fu2 = delta.loc["fu2"]
    assert fu2["abs_ct_total_volume_ml"] == -9.0 and fu2["rel_ct_lesion_count"] == -1.0
    assert fu2.filter(like="_pet_").isna().all()  # no PET at fu2: NA, not 0


def test_lesion_changes(outputs: dict[str, pd.DataFrame]) -> None:
    lesions = outputs["delta_lesions"]
    assert list(lesions.columns) == ["patient_id", "timepoint", "modality", "track", "lesion_baseline", "lesion",
                                     "status", "abs_volume_ml", f"abs_{MEAN}", "rel_volume_ml", f"rel_{MEAN}",
                                     "rate_volume_ml"]
    ct1 = lesions[(lesions["timepoint"] == "fu1") & (lesions["modality"] == "CT")].set_index("track")
    assert ct1["status"].to_dict() == {1: "matched", 2: "disappeared", 3: "matched", 4: "new"}
    assert ct1["lesion"].fillna(0).astype(int).to_list() == [4, 0, 1, 2]
    np.testing.assert_array_equal(ct1["abs_volume_ml"], [-1.0, -6.0, 1.0, 4.0])
    np.testing.assert_allclose(ct1["rate_volume_ml"], np.array([-1.0, -6.0, 1.0, 4.0]) / 60)
    np.testing.assert_array_equal(ct1["rel_volume_ml"], [-0.5, -1.0, 1.0, np.nan])
    np.testing.assert_array_equal(ct1[f"abs_{MEAN}"], [5.0, np.nan, 0.0, np.nan])
    np.testing.assert_array_equal(ct1[f"rel_{MEAN}"], [0.5, np.nan, 0.0, np.nan])
    pet1 = lesions[(lesions["timepoint"] == "fu1") & (lesions["modality"] == "PT")]
    assert pet1["status"].to_list() == ct1["status"].to_list()  # the track's status, from the CT lesion maps
    assert pet1.set_index("track")["abs_volume_ml"].to_dict() == {1: -2.0, 2: 0.0, 3: 0.0, 4: 0.0}
    fu2 = lesions[lesions["timepoint"] == "fu2"]
    assert set(fu2["modality"]) == {"CT"} and set(fu2["status"]) == {"disappeared"} and len(fu2) == 4


def test_a_table_of_another_patient_is_an_error(tmp_path: Path) -> None:
    tables = dict([_write(tmp_path, "baseline", "CT", [(1, 2.0, 10.0)])])
    with pytest.raises(ValueError, match=r"P2: .*scan_baseline_CT_1\.tsv should hold lesions of P2 at baseline"):
        patient_delta("P2", tables, DATES, "baseline", tmp_path / "a.tsv", tmp_path / "d.tsv", tmp_path / "l.tsv")
