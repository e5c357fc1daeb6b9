"""Snakemake with the real totalsegmentator backend and stand-in weights, on CPU: masks, metrics, report, preflight;
and the plan of a model backend (one segment_batch job per patient), which needs no TotalSegmentator.

The runs need TotalSegmentator's virtual environment (`make totalseg`, part of `make test`). One patient's two scans
are segmented in one batch job (about 2 minutes on 2 cores), so those tests are marked slow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad.audit.dryrun import PlannedJob, parse_dry_run
from wbrad.synth import write_cohort

from ..conftest import REPO
from ..test_totalsegmentator import fake_weights
from .conftest import snakemake, write_tiny_config

pytestmark = [pytest.mark.workflow]

TOTALSEG_PYTHON = REPO / ".venv-totalseg" / "bin" / "python"
SCAN = "results/P001/baseline"


def use_totalsegmentator(workdir: Path, weights: str, python: str | None = None) -> None:
    """The tiny config plus the totalsegmentator backend on CPU with the given weights folder (and interpreter)."""
    write_tiny_config(workdir)
    interpreter = f", python: {python}" if python else ""
    with open(workdir / "tiny.yaml", "a") as fh:
        fh.write("segmentation:\n  backend: totalsegmentator\n"
                 f"  totalsegmentator: {{weights: {weights}, fast: true, device: cpu, threads: 2, mem_mb: 4000"
                 f"{interpreter}}}\n")


@pytest.fixture(scope="module")
def totalseg_run(tmp_path_factory) -> Path:
    if not TOTALSEG_PYTHON.exists():
        pytest.skip(f"TotalSegmentator's virtual environment not found: {TOTALSEG_PYTHON} (run `make totalseg`)")
    workdir = tmp_path_factory.mktemp("totalseg_run")
    write_cohort(workdir / "cohort", n_patients=2, seed=0, size="tiny", pet_share=0.0)
    subprocess.run([str(TOTALSEG_PYTHON), "-m", "wbrad.testing.standin", "--weights",
                    str(workdir / "weights"), "--task", "total", "--fast"],
                   check=True, capture_output=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    use_totalsegmentator(workdir, "weights")
    snakemake(workdir, f"{SCAN}/bodycomp.tsv", "results/P001/fu1/seg")
    return workdir


@pytest.mark.slow
def test_one_batch_job_segments_every_ct_of_the_patient(totalseg_run: Path) -> None:
    """segment_batch ran TotalSegmentator once for both CTs (each network loaded once); each scan's folder holds
    hard links to the batch's masks."""
    log = (totalseg_run / "logs/segment_batch/P001.log").read_text(encoding="utf-8")
    command = next(line for line in log.splitlines() if "running " in line and "totalseg_runner" in line)
    assert command.count("--ct ") == 2 and "--reuse-models" in command
    assert log.count("running ") == 1
    for timepoint in ("baseline", "fu1"):
        batch = totalseg_run / "results/P001/seg_batch" / timepoint / "total"
        seg = totalseg_run / "results/P001" / timepoint / "seg" / "total"
        assert sorted(p.name for p in batch.iterdir()) == sorted(p.name for p in seg.glob("*.nii.gz"))
        assert os.path.samefile(batch / "liver.nii.gz", seg / "liver.nii.gz")


@pytest.mark.slow
def test_totalsegmentator_masks_are_on_the_ct_grid(totalseg_run: Path) -> None:
    masks = sorted((totalseg_run / SCAN / "seg" / "total").glob("*.nii.gz"))
    assert len(masks) == 117  # every class of TotalSegmentator's `total` class map
    ct = sitk.ReadImage(str(totalseg_run / SCAN / "ct.nii.gz"))
    liver = sitk.ReadImage(str(totalseg_run / SCAN / "seg" / "total" / "liver.nii.gz"))
    assert liver.GetSize() == ct.GetSize() and liver.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(sitk.GetArrayViewFromImage(liver))) <= {0, 1}
    log = (totalseg_run / "logs/segment_batch/P001.log").read_text(encoding="utf-8")
    assert "wbrad.bodycomp.backends.totalseg_runner" in log and "Predicting" in log


@pytest.mark.slow
def test_bodycomp_consumes_the_masks(totalseg_run: Path) -> None:
    row = pd.read_csv(totalseg_run / SCAN / "bodycomp.tsv", sep="\t").iloc[0]
    liver = sitk.GetArrayFromImage(sitk.ReadImage(str(totalseg_run / SCAN / "seg/total/liver.nii.gz")))
    spacing = sitk.ReadImage(str(totalseg_run / SCAN / "ct.nii.gz")).GetSpacing()
    assert row.liver_ml == pytest.approx(liver.sum() * np.prod(spacing) / 1000)
    assert row.qc_status in {"ok", "failed"} and isinstance(row.qc_reason, str)  # stand-in masks: no anatomy
    assert (totalseg_run / SCAN / "qc/bodycomp.png").stat().st_size > 10_000


@pytest.mark.slow
def test_qc_picture_is_in_the_report(totalseg_run: Path) -> None:
    snakemake(totalseg_run, "--report", "report.html", f"{SCAN}/bodycomp.tsv")
    assert "bodycomp.png" in (totalseg_run / "report.html").read_text(errors="ignore")


@pytest.mark.slow
def test_missing_weights_stop_the_run_before_any_job(tmp_path: Path) -> None:
    write_cohort(tmp_path / "cohort", n_patients=2, seed=0, size="tiny", pet_share=0.0)
    use_totalsegmentator(tmp_path, "no_weights")
    start = time.monotonic()
    result = snakemake(tmp_path, check=False)
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "segmentation preflight failed" in output
    assert "Dataset297_TotalSegmentator_total_3mm_1559subj" in output and "totalseg_download_weights" in output
    assert not (tmp_path / "results").exists() and elapsed < 60, elapsed


# --- the plan of a model backend: fake weights pass the preflight, nothing runs --------------------------------------
def planned(workdir: Path, *targets: str) -> list[PlannedJob]:
    result = snakemake(workdir, "-n", *targets)
    return parse_dry_run(result.stdout + result.stderr)


@pytest.fixture
def model_study(tmp_path: Path) -> Path:
    """Two patients (P001 with baseline and fu1, P002 with a baseline), the totalsegmentator backend, fake weights."""
    write_cohort(tmp_path / "cohort", n_patients=2, seed=0, size="tiny", pet_share=0.0)
    fake_weights(tmp_path / "weights", 297)
    use_totalsegmentator(tmp_path, "weights", python=sys.executable)
    return tmp_path


def test_a_model_backend_plans_one_segment_batch_job_per_patient(model_study: Path) -> None:
    jobs = planned(model_study)
    batches = {job.wildcards["patient"]: job for job in jobs if job.rule == "segment_batch"}
    assert sorted(batches) == ["P001", "P002"]
    assert batches["P001"].threads == 2 and batches["P001"].resource("mem_mb") == 4000
    assert batches["P001"].resource("runtime") == 120 and batches["P002"].resource("runtime") == 60  # 60 per CT
    assert batches["P001"].outputs == ("results/P001/seg_batch",)
    scans = sorted((job.wildcards["patient"], job.wildcards["timepoint"]) for job in jobs if job.rule == "segment")
    assert scans == [("P001", "baseline"), ("P001", "fu1"), ("P002", "baseline")]
    assert {job.threads for job in jobs if job.rule == "segment"} == {1}


def complete(workdir: Path, jobs: list[PlannedJob], rules: tuple[str, ...]) -> None:
    """The outputs of ``jobs`` as empty placeholders, each rule's newer than the one before (a finished run)."""
    stamp = time.time()
    for rule in rules:
        stamp += 1
        for output in (workdir / out for job in jobs if job.rule == rule for out in job.outputs):
            if output.suffix:
                output.parent.mkdir(parents=True, exist_ok=True)
                output.touch()
            else:  # a directory output
                output.mkdir(parents=True, exist_ok=True)
            os.utime(output, (stamp, stamp))


def test_a_new_timepoint_reruns_only_that_patients_batch(model_study: Path) -> None:
    segs = ["results/P001/baseline/seg", "results/P001/fu1/seg", "results/P002/baseline/seg"]
    complete(model_study, planned(model_study, *segs), ("convert_ct", "segment_batch", "segment"))
    assert planned(model_study, *segs) == []
    manifest = pd.read_csv(model_study / "cohort/manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    new = manifest[(manifest.patient_id == "P002")].replace("baseline", "fu1", regex=True)
    registry = pd.read_csv(model_study / "cohort/registry.csv", dtype=str).set_index("patient_id")
    new["scan_date"] = (pd.Timestamp(registry.therapy_start["P002"]) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    pd.concat([manifest, new]).to_csv(model_study / "cohort/manifest.tsv", sep="\t", index=False)
    for column in ("image", "lesions"):
        (model_study / "cohort" / new[column].iloc[0]).parent.mkdir(parents=True, exist_ok=True)
        (model_study / "cohort" / new[column].iloc[0]).touch()
    (model_study / "cohort" / new.segmentation.iloc[0]).mkdir(parents=True, exist_ok=True)
    with open(model_study / "tiny.yaml", "a") as fh:
        fh.write("record_checks: {scan_after_death: warning}\n")  # whatever P002's survival
    jobs = planned(model_study, *segs, "results/P002/fu1/seg")
    assert sorted(job.key for job in jobs) == [
        ("convert_ct", "P002", "fu1"), ("segment", "P002", "baseline"), ("segment", "P002", "fu1"),
        ("segment_batch", "P002"),
    ]
