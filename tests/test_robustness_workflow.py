"""The workflow's robustness jobs on a tiny synthetic cohort: the per-scan long table, the cohort's robustness.tsv
and plot (failed scans left out), and which jobs the rules plan with the config block on and off."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from tests.conftest import REPO
from wbrad.audit.dryrun import parse_dry_run
from wbrad.failures import Failure, ScanDataError
from wbrad.io import read_json, read_tsv, write_placeholder
from wbrad.lesions.extract import extract_lesions, make_extractor
from wbrad.robustness import plan
from wbrad.robustness.perturb import Chain, perturbed_features
from wbrad.robustness.report import (
    LONG_COLUMNS,
    RETEST_COLUMNS,
    ROBUSTNESS_COLUMNS,
    cohort_retest,
    cohort_robustness,
    feature_columns,
    long_values,
    read_tables,
    retest_rows,
    wide_values,
)
from wbrad.robustness.run import perturb_scan
from wbrad.study import ROBUSTNESS, ROBUSTNESS_PLOT
from wbrad.synth import write_cohort

CT_PARAMS = REPO / "params" / "ct.yaml"
PATIENTS = ["P001", "P002", "P003"]
N = 4  # perturbations


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("robustness")
    write_cohort(folder / "cohort", n_patients=3, seed=1, size="tiny", pet_share=0.0, n_jobs=1, retest=3)
    return folder


def _scan(cohort: Path, patient: str) -> tuple[Path, Path]:
    images = cohort / "cohort" / "images" / patient / "baseline"
    return images / "ct.nii.gz", images / "lesions.nii.gz"


@pytest.fixture(scope="module")
def scan_tables(cohort: Path) -> list[Path]:
    tables = []
    for patient in PATIENTS:
        image, lesions = _scan(cohort, patient)
        out = cohort / "results" / patient / "baseline" / "robustness" / "ct.tsv"
        perturb_scan(image, lesions, CT_PARAMS, "CT", patient, "baseline", out, Chain(n=N, seed=0))
        tables.append(out)
    return tables


def test_scan_table_is_long_deterministic_and_has_the_lesion_stage_features(cohort: Path, scan_tables: list[Path]):
    image, lesions = _scan(cohort, "P001")
    again = cohort / "again.tsv"
    perturb_scan(image, lesions, CT_PARAMS, "CT", "P001", "baseline", again, Chain(n=N, seed=0))
    assert again.read_bytes() == scan_tables[0].read_bytes()
    long = read_tsv(scan_tables[0])
    original = extract_lesions(sitk.ReadImage(str(image)), sitk.ReadImage(str(lesions)), make_extractor(CT_PARAMS))
    features = feature_columns(original)
    assert list(long.columns) == LONG_COLUMNS and len(features) > 100
    assert list(pd.unique(long["feature"])) == features  # the lesion table's columns, in its order
    assert len(long) == len(original) * N * len(features)  # every value present on these lesions
    assert set(long["perturbation"]) == set(range(1, N + 1)) and (long["modality"] == "CT").all()
    volume = long[long["feature"] == "volume_ml"].merge(original[["lesion", "volume_ml"]], on="lesion")
    ratio = volume["value"] / volume["volume_ml"]
    assert ratio.between(0.79, 1.21).all() and ratio.nunique() > 1  # volume adaptation within -20 %..+20 %


def test_long_values_round_trip_to_the_perturbed_table(cohort: Path):
    image, lesions = _scan(cohort, "P002")
    wide = perturbed_features(sitk.ReadImage(str(image)), sitk.ReadImage(str(lesions)), make_extractor(CT_PARAMS),
                              Chain(n=2, seed=3))
    back = wide_values(long_values(wide, "P002", "baseline", "CT"))
    features = feature_columns(wide)
    assert list(back.columns) == ["patient_id", "timepoint", "modality", "lesion", "perturbation", *features]
    np.testing.assert_allclose(back[features].to_numpy(float), wide[features].to_numpy(float), rtol=1e-12)


def test_cohort_icc_leaves_failed_scans_out(cohort: Path, scan_tables: list[Path]):
    failed = cohort / "results" / "P004" / "baseline" / "robustness" / "ct.tsv"
    write_placeholder(failed, Failure("convert_ct", "P004", "baseline", "CT", "unreadable").record())
    out_tsv, out_png = (cohort / "results" / "cohort" / name for name in ("robustness.tsv", "robustness.png"))
    cohort_robustness([*scan_tables, failed], out_tsv, out_png)
    rows = read_tsv(out_tsv)
    lesions = sum(read_tsv(t)["lesion"].nunique() for t in scan_tables)
    assert list(rows.columns) == ROBUSTNESS_COLUMNS and lesions >= 6
    assert rows["n_lesions"].eq(lesions).all() and rows["n_perturbations"].eq(N).all() and (rows.modality == "CT").all()
    icc = rows.set_index("feature")["icc"]
    assert icc["volume_ml"] > 0.9 and icc["original_shape_VoxelVolume"] > 0.9  # volume: robust on every cohort
    assert icc.between(-1, 1).all() and (rows.icc_low <= rows.icc).all() and (rows.icc <= rows.icc_high).all()
    rho = rows.set_index("feature")["volume_rho"]
    assert rho["volume_ml"] == pytest.approx(1.0) and rho["original_shape_VoxelVolume"] > 0.99
    assert rho.dropna().between(-1, 1).all()
    assert Counter(rows["feature_class"])["glcm"] == 24 and Counter(rows["feature_class"])["geometry"] == 3
    assert out_png.stat().st_size > 10_000


def test_scan_without_lesions_gives_empty_tables(cohort: Path, tmp_path: Path):
    image, lesions = _scan(cohort, "P001")
    empty = sitk.ReadImage(str(lesions)) * 0
    sitk.WriteImage(empty, str(tmp_path / "none.nii.gz"))
    out = tmp_path / "none.tsv"
    perturb_scan(image, tmp_path / "none.nii.gz", CT_PARAMS, "CT", "P001", "baseline", out, Chain(n=2))
    assert list(read_tsv(out).columns) == LONG_COLUMNS and read_tsv(out).empty
    rows = cohort_robustness([out], tmp_path / "robustness.tsv", tmp_path / "robustness.png")
    assert rows.empty and list(read_tsv(tmp_path / "robustness.tsv").columns) == ROBUSTNESS_COLUMNS
    assert (tmp_path / "robustness.png").stat().st_size > 1_000


def test_lesion_map_off_the_image_grid_is_a_scan_data_error(cohort: Path, tmp_path: Path):
    image, lesions = _scan(cohort, "P001")
    shifted = sitk.ReadImage(str(lesions))
    shifted.SetOrigin([o + 5.0 for o in shifted.GetOrigin()])
    sitk.WriteImage(shifted, str(tmp_path / "shifted.nii.gz"))
    with pytest.raises(ScanDataError, match="P001 baseline CT: lesion map"):
        perturb_scan(image, tmp_path / "shifted.nii.gz", CT_PARAMS, "CT", "P001", "baseline", tmp_path / "x.tsv")
    assert not (tmp_path / "x.tsv").exists()


def _planned(cohort: Path, workdir: Path, robustness: str) -> Counter:
    """The rules of the jobs a dry run plans for the whole workflow in ``workdir`` with config.yaml updated by
    the given robustness block."""
    if not (workdir / "cohort").exists():
        (workdir / "cohort").symlink_to(cohort / "cohort")
    same_day = "record_checks: {scan_before_therapy: warning, duplicate_scan_date: warning}\n"  # the retest scans
    (workdir / "tiny.yaml").write_text("manifest: cohort/manifest.tsv\nregistry: cohort/registry.csv\n" + same_day
                                       + robustness)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(REPO / "config.yaml"), str(workdir / "tiny.yaml"), "--cores", "1", "-n"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return Counter(job.rule for job in parse_dry_run(result.stdout + result.stderr))


@pytest.mark.workflow
@pytest.mark.slow
def test_rules_plan_one_job_per_contoured_baseline_ct_and_none_when_off(cohort: Path, tmp_path: Path):
    on = _planned(cohort, tmp_path, "robustness: {perturbations: 4}\n")  # config.yaml's timepoints and retest
    assert (on["robustness"], on["robustness_icc"], on["robustness_retest"]) == (len(PATIENTS), 1, 1)
    off = _planned(cohort, tmp_path, "robustness: {perturbations: 0}\n")
    assert not {"robustness", "robustness_icc", "robustness_retest"} & set(off)
    assert off["lesions"] == on["lesions"] > 0


def test_plan_picks_contoured_scans_of_the_configured_timepoints_and_modalities():
    lesions = {("P1", "baseline", "CT"): "l.nii.gz", ("P1", "baseline", "PT"): "", ("P1", "fu1", "CT"): "l.nii.gz",
               ("P2", "baseline", "CT"): "", ("P3", "baseline", "CT"): "l.nii.gz"}
    on = {"perturbations": 6, "seed": 2}
    assert plan.scan_tables(on, lesions, "baseline") == [
        "results/P1/baseline/robustness/ct.tsv", "results/P3/baseline/robustness/ct.tsv"]  # P2: no contours
    both = plan.scan_tables({**on, "timepoints": ["baseline", "fu1"], "modalities": ["ct", "PET"]}, lesions, "baseline")
    assert both == ["results/P1/baseline/robustness/ct.tsv", "results/P1/baseline/robustness/pet.tsv",
                    "results/P1/fu1/robustness/ct.tsv", "results/P3/baseline/robustness/ct.tsv"]
    assert plan.scan_tables(None, lesions, "baseline") == plan.scan_tables({"perturbations": 0}, lesions, "x") == []
    assert plan.cohort_outputs([]) == [] and plan.cohort_outputs(both) == [ROBUSTNESS, ROBUSTNESS_PLOT]
    assert plan.chain_settings(on) == {"n": 6, "seed": 2} and Chain(**plan.chain_settings(on)).n == 6


def test_retest_icc_pairs_lesions_by_label_and_agrees_with_perturbation(cohort: Path, scan_tables: list[Path]):
    from wbrad.lesions.run import extract_scan

    tables = []
    for patient in PATIENTS:
        for timepoint in ("baseline", "retest"):
            images = cohort / "cohort" / "images" / patient / timepoint
            out = cohort / "results" / patient / timepoint / "lesions_ct.tsv"
            extract_scan(images / "ct.nii.gz", images / "lesions.nii.gz", CT_PARAMS, "CT", patient, timepoint, out)
            tables.append(out)
    perturbation = cohort / "perturbation.tsv"
    cohort_robustness(scan_tables, perturbation, cohort / "perturbation.png")
    rows = cohort_retest(tables, perturbation, "baseline", "retest", cohort / "retest.tsv", cohort / "agreement.json")
    lesions = sum(read_tsv(t)["lesion"].nunique() for t in scan_tables)
    assert list(rows.columns) == RETEST_COLUMNS and rows["n_lesions"].eq(lesions).all() and rows["n_scans"].eq(2).all()
    icc = rows.set_index("feature")
    assert icc.loc["original_shape_VoxelVolume", "icc"] > 0.9 and icc["icc_perturbation"].notna().all()
    summary = read_json(cohort / "agreement.json")["CT"]
    assert summary["n_features"] == len(rows) and -1 <= summary["spearman_rho"] <= 1
    assert 0 <= summary["same_call_at_0.75"] <= 1
    shuffled = read_tables(tables).assign(lesion=lambda t: t["lesion"].where(t["timepoint"] == "baseline", 99))
    assert retest_rows(shuffled, "baseline", "retest").empty  # no label on both scans: no pair
