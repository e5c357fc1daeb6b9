"""Real Snakemake runs on a tiny synthetic cohort, shared by the workflow tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wbrad.synth import write_cohort

from ..conftest import REPO

TINY_PATIENTS = 8


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the repository's workflow in `workdir` on the cohort under workdir/cohort, with the local profile (as
    the README runs it) on 2 cores."""
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--profile", str(REPO / "profiles/local"),
        "--configfile", str(REPO / "config.yaml"), str(workdir / "tiny.yaml"), "--cores", "2", *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=1800)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def write_tiny_config(workdir: Path) -> None:
    """Point the workflow at the cohort and shrink cross-validation for a cohort of a few patients."""
    (workdir / "tiny.yaml").write_text(
        "manifest: cohort/manifest.tsv\nregistry: cohort/registry.csv\n"
        "model:\n"
        "  endpoints:\n"
        "    os: {type: survival, time: os_days, event: os_event}\n"
        "  feature_sets:\n"
        "    clinical: {columns: [age, ecog, ldh]}\n"
        '    imaging: {columns: ["re:^bc_l3_sma_cm2$", "re:^ct_total_volume_ml$"]}\n'
        "    clinical+imaging: {include: [clinical, imaging]}\n"
        '    radiomics_wide: {columns: [ct_total_volume_ml, "re:^ct_vwmean_original_glcm_", "re:^bc_l3_"]}\n'
        "  models: [coxnet, rsf]\n"
        "  cv: {folds: 2, repeats: 1, seed: 0}\n"
        "  rsf: {n_estimators: 20, min_samples_leaf: 2}\n"
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny synthetic cohort run end to end through Snakemake once per session; returns the working directory."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    write_cohort(workdir / "cohort", n_patients=TINY_PATIENTS, seed=1, size="tiny", pet_share=0.5)
    write_tiny_config(workdir)
    snakemake(workdir)
    return workdir
