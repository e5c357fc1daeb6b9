"""One bad scan costs one patient, on a real Snakemake run: a 6-patient cohort with a lesion mask on the wrong grid,
a CT with NaN and a missing image (``missing_files: exclude``), SIGKILLed part-way, unlocked and rerun with
``--keep-going``: cohort and models for the others, exclusions.tsv with exactly those three scans and their reasons,
every result verified and no temporary file left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from wbrad import integrity
from wbrad.cohort.run import NO_IMAGING
from wbrad.io import read_tsv
from wbrad.synth import write_cohort

from ..conftest import REPO
from .conftest import snakemake, write_tiny_config

pytestmark = pytest.mark.workflow


def break_scans(cohort: Path) -> dict[str, Path]:
    """P002 fu1: lesion mask on another grid; P003 baseline: a float CT with NaN; P004 fu2: CT image deleted."""
    mask = cohort / "images/P002/fu1/lesions.nii.gz"
    img = nib.load(mask)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[:-1], img.affine), mask)
    ct = cohort / "images/P003/baseline/ct.nii.gz"
    img = nib.load(ct)
    data = np.asarray(img.dataobj, dtype=np.float32)
    data[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(data, img.affine), ct)
    gone = cohort / "images/P004/fu2/ct.nii.gz"
    gone.unlink()
    return {"mask": mask, "ct": ct, "gone": gone}


def kill_part_way(workdir: Path) -> None:
    """Start the run, SIGKILL its whole process group once the first scans are done, and wait for it."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(REPO / "config.yaml"), str(workdir / "tiny.yaml"), "--cores", "2", "--keep-going"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not list((workdir / "results").glob("*/*/bodycomp.tsv")) and time.monotonic() < deadline:
        assert run.poll() is None, "the run ended before it could be killed"
        time.sleep(0.5)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory) -> tuple[Path, dict[str, Path], subprocess.CompletedProcess]:
    workdir = tmp_path_factory.mktemp("faults")
    write_cohort(workdir / "cohort", n_patients=6, seed=3, size="tiny", pet_share=0.5, n_jobs=1)
    write_tiny_config(workdir)
    config = workdir / "tiny.yaml"
    config.write_text(config.read_text() + "missing_files: exclude\n")
    broken = break_scans(workdir / "cohort")
    kill_part_way(workdir)
    snakemake(workdir, "--unlock")
    return workdir, broken, snakemake(workdir, "--keep-going", "--rerun-incomplete")


def test_exclusions_hold_exactly_the_three_bad_scans_with_their_reasons(faulty_run) -> None:
    workdir, broken, run = faulty_run
    table = read_tsv(workdir / "results/cohort/exclusions.tsv", dtype=str).fillna("")
    scans = table[table.timepoint != ""]
    assert scans[["patient_id", "timepoint", "modality", "stage"]].values.tolist() == [
        ["P002", "fu1", "CT", "convert_ct"], ["P003", "baseline", "CT", "convert_ct"],
        ["P004", "fu2", "CT", "manifest"]]
    reasons = scans.set_index("patient_id").reason
    assert reasons["P002"].startswith("P002 fu1 cohort/images/P002/fu1/lesions.nii.gz is not on the geometry of ")
    assert "size (" in reasons["P002"]
    assert reasons["P003"] == "P003 baseline cohort/images/P003/baseline/ct.nii.gz: 1 non-finite voxel values"
    assert reasons["P004"] == "image file not found: cohort/images/P004/fu2/ct.nii.gz"
    # P003's baseline failed: its follow-ups completed, but the cohort has no baseline or delta values for it
    assert table[table.timepoint == ""].values.tolist() == [["P003", "", "", "cohort", NO_IMAGING]]
    assert "missing_files: exclude: 1 scan(s) left out" in run.stderr


def test_the_other_patients_have_cohort_rows_and_models(faulty_run) -> None:
    workdir, _, _ = faulty_run
    cohort = read_tsv(workdir / "results/cohort/cohort.tsv", dtype={"patient_id": "string"}).set_index("patient_id")
    assert cohort.index.tolist() == [f"P00{k}" for k in range(1, 7)]
    assert cohort["bc_l3_sma_cm2"].notna().to_dict() == {"P001": True, "P002": True, "P003": False, "P004": True,
                                                         "P005": True, "P006": True}
    metrics = read_tsv(workdir / "results/models/os/metrics.tsv")
    assert (metrics["n_excluded_scans"] == 3).all()


def test_after_the_kill_every_result_verifies_and_no_temporary_file_is_left(faulty_run) -> None:
    workdir, _, _ = faulty_run
    findings = integrity.verify_tree(workdir / "results")
    assert {f.kind for f in findings} == {integrity.FAILED_SCAN}  # the failed scans only: nothing damaged or left
    origins = {(f.patient, f.timepoint) for f in (integrity.failure_of(finding.path) for finding in findings)}
    assert origins == {("P002", "fu1"), ("P003", "baseline")}  # every failed result traces back to a bad scan
    failed = {f.path.relative_to(workdir / "results").parts[:2] for f in findings}
    assert ("P003", "tracks.tsv") in failed  # P003's tracking needs its baseline
    assert not any(part[0] in {"P001", "P005", "P006"} for part in failed)
    leftovers = [p for p in workdir.rglob(".*") if p.name != ".snakemake_timestamp" and ".snakemake" not in p.parts]
    assert leftovers == []


def test_results_recomputed_from_scratch_after_the_kill_give_the_identical_cohort(faulty_run) -> None:
    workdir, _, _ = faulty_run
    cohort = workdir / "results/cohort/cohort.tsv"
    before = cohort.read_bytes()
    for patient in ("P001", "P005"):  # in flight when the run was killed (the kill came after the first bodycomp)
        shutil.rmtree(workdir / "results" / patient)
    snakemake(workdir, "--keep-going", str(cohort.relative_to(workdir)))
    assert cohort.read_bytes() == before


def test_a_fixed_scan_reruns(faulty_run) -> None:
    workdir, broken, _ = faulty_run
    img = nib.load(broken["ct"])
    data = np.nan_to_num(np.asarray(img.dataobj, dtype=np.float32)).astype(np.int16)
    nib.save(nib.Nifti1Image(data, img.affine), broken["ct"])
    dry = snakemake(workdir, "--dry-run", "--keep-going")
    assert "convert_ct" in dry.stdout and "P003" in dry.stdout
