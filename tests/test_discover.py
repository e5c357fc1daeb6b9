"""Tests of wbrad.discover: header index, series selection, timepoints, pseudonyms, growing manifest."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom.uid import generate_uid

from wbrad.cli import main
from wbrad.discover.index import index_export
from wbrad.discover.pseudonym import assign, read_link_table, write_link_table
from wbrad.discover.run import discover
from wbrad.discover.select import Rules, choose_ct, timepoint
from wbrad.synth import write_cohort

RULES = Rules(max_slice_mm=8.0)  # the tiny synthetic cohort has 8 mm slices
slow = pytest.mark.slow  # the synthetic export takes about 30 s to write


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-patient synthetic cohort with its DICOM export and the link table of its invented hospital IDs."""
    out = tmp_path_factory.mktemp("export")
    write_cohort(out, n_patients=3, seed=0, size="tiny", pet_share=0.7, dicom=True)
    truth = json.loads((out / "truth.json").read_text())
    write_link_table({p["dicom_identity"]["patient_id"]: pid for pid, p in truth["patients"].items()},
                     out / "links.csv")
    return out


def copy(export: Path, tmp_path: Path) -> Path:
    shutil.copytree(export, tmp_path / "c", ignore=shutil.ignore_patterns("*.nii.gz", "seg"))
    return tmp_path / "c"


@slow
def test_discovery_finds_the_exported_manifest(export: Path, tmp_path: Path) -> None:
    cohort = copy(export, tmp_path)
    selection = discover(cohort / "images", cohort / "registry.csv", cohort / "m.tsv", cohort / "links.csv", RULES)
    assert selection.ambiguous == []
    found, expected = (pd.read_csv(cohort / name, sep="\t", dtype=str, keep_default_na=False)
                       for name in ("m.tsv", "manifest_dicom.tsv"))
    columns = ["patient_id", "timepoint", "scan_date", "modality", "image", "lesions"]
    pd.testing.assert_frame_equal(found[columns], expected[columns].sort_values(
        ["patient_id", "timepoint", "modality"], ignore_index=True))
    text = (cohort / "m.tsv").read_text() + (cohort / "m.ambiguous.tsv").read_text()
    assert not any(original in text for original in read_link_table(cohort / "links.csv"))


@slow
def test_rerun_on_a_grown_export_only_adds_rows(export: Path, tmp_path: Path) -> None:
    cohort = copy(export, tmp_path)
    later = tmp_path / "later"
    shutil.move(cohort / "images" / "P003", later)
    discover(cohort / "images", cohort / "registry.csv", cohort / "m.tsv", cohort / "links.csv", RULES)
    first = (cohort / "m.tsv").read_text().splitlines()
    assert not any(line.startswith("P003") for line in first)
    shutil.move(later, cohort / "images" / "P003")
    discover(cohort / "images", cohort / "registry.csv", cohort / "m.tsv", cohort / "links.csv", RULES)
    second = (cohort / "m.tsv").read_text().splitlines()
    assert set(first) < set(second) and all(line.startswith("P003") for line in set(second) - set(first))


@slow
def test_unlinked_patients_get_new_pseudonyms(export: Path, tmp_path: Path) -> None:
    cohort = copy(export, tmp_path)
    (cohort / "links.csv").unlink()
    selection = discover(cohort / "images", cohort / "registry.csv", cohort / "m.tsv", cohort / "links.csv", RULES)
    assert sorted(read_link_table(cohort / "links.csv").values()) == ["WB0001", "WB0002", "WB0003"]
    assert {a["reason"] for a in selection.ambiguous} == {"patient not in the registry"}
    assert assign(["b", "a"], {"x": "WB0007"}) == {"x": "WB0007", "a": "WB0008", "b": "WB0009"}


@slow
def test_a_second_equal_ct_is_listed_not_guessed(export: Path, tmp_path: Path) -> None:
    cohort = copy(export, tmp_path)
    ct = cohort / "images/P001/baseline/dicom/ct"
    twin = ct.with_name("ct_copy")
    shutil.copytree(ct, twin)
    uid = generate_uid()
    for path in twin.iterdir():
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
        ds.save_as(path)
    selection = discover(cohort / "images", cohort / "registry.csv", cohort / "m.tsv", cohort / "links.csv", RULES)
    assert selection.ambiguous == [{"patient_id": "P001", "study_date": "2018-04-24",
                                    "reason": "2 equally good CT series: CT WB 3.0 SOFT, CT WB 3.0 SOFT"}]  # scanner B
    assert not any(r["patient_id"] == "P001" and r["timepoint"] == "baseline" for r in selection.rows)


@slow
def test_index_reads_headers(export: Path) -> None:
    index = index_export(export / "images" / "P002")
    assert index.modality.tolist() == ["CT", "PT", "RTSTRUCT"]
    ct = index.iloc[0]
    assert (ct.n_slices, ct.slice_thickness_mm, ct.kernel, bool(ct.axial)) == (56, 8.0, "B30f", True)
    assert ct.z_coverage_mm == pytest.approx(55 * 8.0)
    assert bool(index.iloc[1].attenuation_corrected) and index.iloc[2].frame_of_reference == ct.frame_of_reference


def test_ct_choice_prefers_soft_kernel_then_coverage_then_thin_slices() -> None:
    series = pd.DataFrame({"modality": ["CT"] * 4, "axial": [True, True, True, False],
                           "slice_thickness_mm": [1.0, 3.0, 2.0, 3.0], "kernel": ["B70f", "B30f", "B31f", "B30f"],
                           "z_coverage_mm": [900.0, 800.0, 900.0, 990.0], "description": list("abcd")})
    assert choose_ct(series, Rules())[0].description == "c"
    assert choose_ct(series.iloc[[0, 3]], Rules())[0].description == "a"
    assert choose_ct(series.iloc[[3]], Rules()) == (None, "no axial CT at or under 5.0 mm")


def test_timepoint_windows() -> None:
    start = dt.date(2024, 1, 31)
    dates = [dt.date(2024, 1, 2), dt.date(2024, 1, 20), dt.date(2024, 4, 20), dt.date(2025, 1, 1)]
    assert [timepoint(d, start, dates, Rules()) for d in dates] == [None, "baseline", "fu1", None]


def test_cli_needs_a_link_table(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("convert: {}\n")
    with pytest.raises(SystemExit, match=r"give --link-table, or convert.link_table in .*config.yaml"):
        main(["discover", str(tmp_path), "--registry", "r.csv", "--manifest", "m.tsv",
              "--config", str(tmp_path / "config.yaml")])
