"""Incremental reruns on a finished tiny run, read from Snakemake's dry-run job list: what runs when the study
changes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from wbrad.audit.dryrun import PlannedJob, parse_dry_run

from ..conftest import REPO
from .conftest import snakemake

pytestmark = pytest.mark.workflow

COHORT_JOBS = {"cohort", "model", "model_binary", "all"}  # model_binary: the binary endpoints


@pytest.fixture
def finished(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the finished tiny run (timestamps and Snakemake's metadata kept) that a test may change."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy, symlinks=True)
    return copy


def planned(workdir: Path, *args: str) -> list[PlannedJob]:
    result = snakemake(workdir, "-n", *args)
    return parse_dry_run(result.stdout + result.stderr)


def rules(jobs: list[PlannedJob]) -> set[str]:
    return {job.rule for job in jobs}


def test_a_new_patient_runs_only_its_own_jobs_and_the_cohort(finished: Path):
    manifest = pd.read_csv(finished / "cohort/manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    registry = pd.read_csv(finished / "cohort/registry.csv", dtype=str, keep_default_na=False)
    donor = manifest.patient_id.iloc[0]
    new_scans = manifest[manifest.patient_id == donor].assign(patient_id="P900")
    pd.concat([manifest, new_scans]).to_csv(finished / "cohort/manifest.tsv", sep="\t", index=False)
    new_row = registry[registry.patient_id == donor].assign(patient_id="P900")
    pd.concat([registry, new_row]).to_csv(finished / "cohort/registry.csv", index=False)

    jobs = planned(finished)
    new = [job for job in jobs if job.wildcards.get("patient") == "P900"]
    others = [job for job in jobs if job.wildcards.get("patient") != "P900"]
    ct_scans = len(new_scans[new_scans.modality == "CT"])
    assert sum(job.rule == "convert_ct" for job in new) == ct_scans
    assert sum(job.rule == "segment" for job in new) == ct_scans
    assert sum(job.rule == "lesions" for job in new) == len(new_scans)
    assert {"bodycomp", "delta", "robustness"} <= rules(new)
    assert rules(others) == COHORT_JOBS | {"robustness_icc"}  # the ICC over every patient's lesions


def test_a_changed_follow_up_reruns_only_cohort_and_models(finished: Path):
    registry = pd.read_csv(finished / "cohort/registry.csv", dtype=str, keep_default_na=False)
    registry.loc[0, "os_days"] = str(int(registry.loc[0, "os_days"]) + 30)
    registry.loc[0, "os_event"] = "1" if registry.loc[0, "os_event"] == "0" else "0"
    registry.to_csv(finished / "cohort/registry.csv", index=False)

    assert rules(planned(finished)) == COHORT_JOBS


def test_a_changed_radiomics_setting_reruns_lesions_and_what_follows(finished: Path):
    params = (REPO / "params/ct.yaml").read_text()
    assert "binWidth: 25" in params, "the CT parameter file changed: update this test's edit"
    (finished / "ct_changed.yaml").write_text(params.replace("binWidth: 25", "binWidth: 10"))
    (finished / "radiomics.yaml").write_text("lesions: {params: {CT: ct_changed.yaml}}\n")

    jobs = planned(
        finished,
        "--configfile",
        str(REPO / "config.yaml"),
        str(finished / "tiny.yaml"),
        str(finished / "radiomics.yaml"),
    )
    # tracks hold lesion values; perturbation robustness runs the lesion stage's extractor
    assert rules(jobs) == {"lesions", "track", "delta", "robustness", "robustness_icc"} | COHORT_JOBS
    assert {job.wildcards["modality"] for job in jobs if job.rule == "lesions"} == {"ct"}


def test_touched_but_unchanged_inputs_run_nothing(finished: Path):
    """Snakemake compares checksums of inputs under --max-checksum-file-size (1 MB by default) before rerunning."""
    scan = next((finished / "cohort/images").glob("*/*"))
    for path in [finished / "cohort/registry.csv", scan / "ct.nii.gz", scan / "lesions.nii.gz"]:
        os.utime(path)
    result = snakemake(finished, "-n")
    assert parse_dry_run(result.stdout + result.stderr) == []
    assert "Nothing to be done" in result.stdout + result.stderr
