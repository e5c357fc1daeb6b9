"""One bad scan costs one patient: data errors become failed placeholders, passed on, left out with their reason;
code bugs still fail (wbrad.failures, wbrad.workflow.run_scan)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad import integrity
from wbrad.audit.checks import failed_bodycomp_qc
from wbrad.audit.verify import integrity_problems
from wbrad.cohort.run import NO_IMAGING, build_cohort
from wbrad.convert.run import convert_ct
from wbrad.delta.run import patient_delta
from wbrad.failures import (
    EXCLUSION_COLUMNS,
    Failure,
    ScanDataError,
    UpstreamFailed,
    exclude_missing,
    missing_files,
    missing_message,
    scan_data,
)
from wbrad.io import read_json, read_tsv, write_json, write_placeholder, write_tsv
from wbrad.workflow import run_scan

from .test_cohort import write_inputs
from .test_delta import DATES, _write

FAILURE = Failure("convert_ct", "P1", "fu1", "CT", "P1 fu1 ct.nii.gz: 12 non-finite voxel values")


def job(rule: str, inputs: dict[str, str], outputs: dict[str, str], **wildcards: str) -> SimpleNamespace:
    """The attributes of Snakemake's ``snakemake`` script object that run_scan reads."""
    return SimpleNamespace(rule=rule, input=list(inputs.values()), output=list(outputs.values()), log=[],
                           threads=1, wildcards={"patient": "P1", "timepoint": "fu1", **wildcards})


def image(path: Path, array: np.ndarray, spacing: tuple[float, float, float] = (2.0, 2.0, 3.0)) -> Path:
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))
    return path


def convert_job(tmp_path: Path, ct: Path, lesions: Path | None) -> tuple[SimpleNamespace, dict[str, Path]]:
    out = {"ct": tmp_path / "out" / "ct.nii.gz", "lesions": tmp_path / "out" / "lesions.nii.gz",
           "provenance": tmp_path / "out" / "provenance.json"}
    snakemake = job("convert_ct", {"image": str(ct)}, {k: str(v) for k, v in out.items()})
    run_scan(snakemake, convert_ct, image=ct, lesions=lesions, out_ct=out["ct"], out_lesions=out["lesions"],
             provenance=out["provenance"], patient="P1", timepoint="fu1")
    return snakemake, out


def recorded_failure(path: Path) -> dict[str, str]:
    return json.loads(integrity.sidecar(path).read_text())["failed"]


def test_a_ct_with_nan_becomes_failed_placeholders_and_the_job_succeeds(tmp_path: Path, capsys) -> None:
    array = np.zeros((4, 5, 6), np.float32)
    array[1, 2, 3] = np.nan
    ct = image(tmp_path / "ct.nii.gz", array)
    _, out = convert_job(tmp_path, ct, None)
    for path in out.values():
        assert path.stat().st_size == 0
        failed = recorded_failure(path)
        assert (failed["stage"], failed["patient"], failed["timepoint"], failed["modality"]) == (
            "convert_ct", "P1", "fu1", "CT")
        assert failed["reason"] == f"P1 fu1 {ct}: 1 non-finite voxel values"
    assert "scan P1 fu1 CT recorded as failed (data error)" in capsys.readouterr().err
    with pytest.raises(UpstreamFailed, match=r"ct\.nii\.gz: a failed placeholder: P1 fu1 CT failed at convert_ct"):
        integrity.check(out["ct"])


def test_a_lesion_mask_on_another_grid_is_recorded_with_both_grids(tmp_path: Path) -> None:
    ct = image(tmp_path / "ct.nii.gz", np.zeros((4, 5, 6), np.int16))
    mask = image(tmp_path / "mask.nii.gz", np.zeros((4, 5, 6), np.uint8), spacing=(1.0, 1.0, 3.0))
    _, out = convert_job(tmp_path, ct, mask)
    reason = recorded_failure(out["lesions"])["reason"]
    assert reason.startswith(f"P1 fu1 {mask} is not on the geometry of {ct}: spacing [1.0, 1.0, 3.0] != [2.0, 2.0")


def test_a_fixed_input_reruns_to_real_results(tmp_path: Path) -> None:
    ct = image(tmp_path / "ct.nii.gz", np.full((4, 5, 6), np.nan, np.float32))
    _, out = convert_job(tmp_path, ct, None)
    image(ct, np.zeros((4, 5, 6), np.int16))
    convert_job(tmp_path, ct, None)
    assert integrity.failure_of(out["ct"]) is None and integrity.check(out["ct"]) is not None
    assert read_json(out["provenance"])["modality"] == "CT"


def test_a_failed_input_is_passed_on_without_running_the_work(tmp_path: Path) -> None:
    ct = tmp_path / "ct.nii.gz"
    write_placeholder(ct, FAILURE.record())
    seg, table = tmp_path / "seg", tmp_path / "lesions_pet.tsv"

    def work() -> None:
        raise AssertionError("the work of a job with a failed input must not run")

    run_scan(job("lesions", {"image": str(ct)}, {"seg": str(seg), "table": str(table)}, modality="pet"), work)
    assert seg.is_dir() and not any(seg.iterdir())
    assert integrity.failure_of(seg) == FAILURE and integrity.failure_of(table) == FAILURE  # the upstream's record
    findings = {f.path.name: f for f in integrity.verify_tree(tmp_path)}
    assert {name: f.kind for name, f in findings.items()} == {"ct.nii.gz": "failed", "seg": "failed",
                                                              "lesions_pet.tsv": "failed"}
    assert findings["seg"].detail == f"{seg}: recorded failure, not damage: {FAILURE}"


def test_audit_verify_reports_a_failure_as_a_warning_with_its_reason(tmp_path: Path) -> None:
    results = tmp_path / "results"
    table = results / "P1" / "fu1" / "bodycomp.tsv"
    write_placeholder(table, FAILURE.record())
    [problem] = integrity_problems(results)
    assert (problem.patient, problem.timepoint, problem.check, problem.severity) == (
        "P1", "fu1", "recorded failure", "warning")
    assert problem.detail.endswith("P1 fu1 CT failed at convert_ct: P1 fu1 ct.nii.gz: 12 non-finite voxel values")
    manifest = pd.DataFrame({"patient_id": ["P1"], "timepoint": ["fu1"], "modality": ["CT"]})
    [qc] = failed_bodycomp_qc(manifest, results)
    assert (qc.severity, qc.detail) == ("warning", f"not measured: {FAILURE}")


def test_a_damaged_bodycomp_table_is_blocking_in_the_audit(tmp_path: Path) -> None:
    table = tmp_path / "P1" / "fu1" / "bodycomp.tsv"
    write_tsv(pd.DataFrame({"patient_id": ["P1"], "qc_status": ["ok"]}), table)
    table.write_text(table.read_text()[:10])
    manifest = pd.DataFrame({"patient_id": ["P1"], "timepoint": ["fu1"], "modality": ["CT"]})
    [qc] = failed_bodycomp_qc(manifest, tmp_path)
    assert qc.severity == "blocking" and "differs from its record" in qc.detail


def test_a_code_bug_still_fails_the_job_and_writes_nothing(tmp_path: Path) -> None:
    table = tmp_path / "bodycomp.tsv"

    def work() -> None:
        raise ValueError("a bug: not a scan's data")

    with pytest.raises(ValueError, match="a bug"):
        run_scan(job("bodycomp", {}, {"table": str(table)}), work)
    assert not table.exists() and not integrity.sidecar(table).exists()


def test_scan_data_names_the_scan_but_leaves_damage_alone(tmp_path: Path) -> None:
    with pytest.raises(ScanDataError, match=r"^P1 fu1: bad spacing$"), scan_data("P1 fu1"):
        raise ValueError("bad spacing")
    with pytest.raises(ScanDataError, match=r"^P1 fu1: no such file$"), scan_data("P1 fu1"):
        raise FileNotFoundError("no such file")
    with pytest.raises(integrity.IntegrityError) as err, scan_data("P1 fu1"):
        raise integrity.IntegrityError("damaged")
    assert not isinstance(err.value, ScanDataError)


def test_json_results_are_verified_on_read(tmp_path: Path) -> None:
    path = tmp_path / "provenance.json"
    write_json({"modality": "CT"}, path)
    assert read_json(path) == {"modality": "CT"}
    path.write_text('{"modality": "PT"}\n')
    with pytest.raises(integrity.IntegrityError, match="differs from its record"):
        read_json(path)


def test_delta_leaves_a_failed_followup_out_and_a_failed_baseline_gives_no_change(tmp_path: Path) -> None:
    tables = dict([_write(tmp_path, "baseline", "CT", [(1, 2.0, 10.0)]), _write(tmp_path, "fu1", "CT", [(1, 1.0, 5.0)]),
                   _write(tmp_path, "fu2", "CT", [(1, 3.0, 5.0)])])
    write_placeholder(tables[("fu1", "CT")], FAILURE.record())
    out = {name: tmp_path / f"{name}.tsv" for name in ("aggregates", "delta", "delta_lesions")}
    patient_delta("P1", tables, DATES, "baseline", *out.values())
    assert read_tsv(out["aggregates"]).timepoint.tolist() == ["baseline", "fu2"]
    assert read_tsv(out["delta"]).timepoint.tolist() == ["fu2"]
    write_placeholder(tables[("baseline", "CT")], FAILURE.record())
    patient_delta("P1", tables, DATES, "baseline", *out.values())
    assert read_tsv(out["aggregates"]).timepoint.tolist() == ["fu2"]
    assert read_tsv(out["delta"]).empty and read_tsv(out["delta_lesions"]).empty
    write_placeholder(tables[("fu2", "CT")], FAILURE.record())
    with pytest.raises(UpstreamFailed, match="P1 fu1 CT failed at convert_ct"):
        patient_delta("P1", tables, DATES, "baseline", *out.values())


def test_the_cohort_is_built_from_what_completed_and_lists_every_exclusion(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path)
    p2_bodycomp = inputs["bodycomp"][1]
    write_placeholder(p2_bodycomp, Failure("bodycomp", "P2", "baseline", "CT", "no L3").record())
    manifest_row = Failure("manifest", "P1", "fu2", "CT", "image file not found: x.nii.gz").row()
    out = {"out_cohort": tmp_path / "c" / "cohort.tsv", "out_dictionary": tmp_path / "c" / "dictionary.tsv",
           "out_exclusions": tmp_path / "c" / "exclusions.tsv"}
    build_cohort(**inputs, **out, exclusions=[manifest_row])
    cohort = read_tsv(out["out_cohort"], dtype={"patient_id": "string"}).set_index("patient_id")
    assert pd.isna(cohort.at["P2", "bc_l3_sma_cm2"]) and cohort.at["P1", "bc_l3_sma_cm2"] == 150.5
    assert cohort.at["P2", "ct_lesion_count"] == 1  # the scan's other tables are kept
    exclusions = read_tsv(out["out_exclusions"], dtype=str).fillna("")
    assert list(exclusions.columns) == EXCLUSION_COLUMNS
    assert exclusions.values.tolist() == [
        ["P1", "fu2", "CT", "manifest", "image file not found: x.nii.gz"],
        ["P2", "baseline", "CT", "bodycomp", "no L3"],
        ["P3", "", "", "cohort", NO_IMAGING],
    ]


def manifest(tmp_path: Path) -> pd.DataFrame:
    present = tmp_path / "present.nii.gz"
    present.write_bytes(b"x")
    rows = [("P1", "baseline", "CT", str(present), ""), ("P1", "fu1", "CT", str(tmp_path / "gone.nii.gz"), ""),
            ("P1", "fu1", "PT", str(present), ""), ("P2", "baseline", "CT", str(present), str(tmp_path / "m.nii"))]
    table = pd.DataFrame(rows, columns=["patient_id", "timepoint", "modality", "image", "lesions"])
    return table.assign(segmentation="").set_index(["patient_id", "timepoint", "modality"], drop=False)


def test_every_missing_file_is_listed_at_once_and_can_be_excluded(tmp_path: Path) -> None:
    sheet = manifest(tmp_path)
    missing = missing_files(sheet)
    assert missing[["patient_id", "timepoint", "modality", "column"]].values.tolist() == [
        ["P1", "fu1", "CT", "image"], ["P2", "baseline", "CT", "lesions"]]
    message = missing_message(missing, "manifest.tsv")
    assert message.startswith("manifest.tsv: 2 file(s) named in the manifest do not exist:\n"
                              f"  P1 fu1 CT image: {tmp_path / 'gone.nii.gz'}\n  P2 baseline CT lesions: ")
    assert message.endswith("set `missing_files: exclude` to run without those scans (listed in exclusions.tsv)")
    kept, rows = exclude_missing(sheet, missing)
    assert kept.index.tolist() == [("P1", "baseline", "CT")]  # the PET goes with its CT
    assert [(r["patient_id"], r["timepoint"], r["modality"], r["stage"]) for r in rows] == [
        ("P1", "fu1", "CT", "manifest"), ("P1", "fu1", "PT", "manifest"), ("P2", "baseline", "CT", "manifest")]
    assert rows[1]["reason"] == f"its CT at fu1 is excluded: image file not found: {tmp_path / 'gone.nii.gz'}"
