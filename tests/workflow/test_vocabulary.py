"""The study's vocabulary reaches every stage: a baseline timepoint called ``bl`` gives the same cohort table."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from wbrad.study import COHORT

from .conftest import snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def test_a_baseline_called_bl_gives_the_same_cohort_table(tiny_run, tmp_path):
    shutil.copytree(tiny_run / "cohort", tmp_path / "cohort")
    manifest = pd.read_csv(tmp_path / "cohort/manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert (manifest["timepoint"] == "baseline").sum() >= 8
    manifest["timepoint"] = manifest["timepoint"].replace("baseline", "bl")
    manifest.to_csv(tmp_path / "cohort/manifest.tsv", sep="\t", index=False)
    tiny = (tiny_run / "tiny.yaml").read_text()
    (tmp_path / "tiny.yaml").write_text(tiny + "timepoints: {baseline: bl, followup: fu1}\n")

    snakemake(tmp_path, COHORT)

    renamed = pd.read_csv(tmp_path / COHORT, sep="\t")
    default = pd.read_csv(tiny_run / COHORT, sep="\t")
    assert not (tmp_path / "results/P001/baseline").exists() and (tmp_path / "results/P001/bl/bodycomp.tsv").exists()
    assert renamed["delta_baseline_days"].notna().sum() >= 4 and renamed["bc_l3_sma_cm2"].notna().all()
    pd.testing.assert_frame_equal(renamed, default)


def test_a_german_excel_registry_runs_with_its_format_and_fails_without_it_naming_the_separator(tiny_run, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(tiny_run, study, symlinks=True, ignore=shutil.ignore_patterns(".snakemake", "logs"))
    registry = pd.read_csv(tiny_run / "cohort/registry.csv", dtype={"patient_id": str})
    registry["therapy_start"] = pd.to_datetime(registry["therapy_start"]).dt.strftime("%d.%m.%Y")
    registry.to_csv(study / "cohort/registry.csv", sep=";", decimal=",", index=False, encoding="utf-8-sig")
    assert "," in (study / "cohort/registry.csv").read_text(encoding="utf-8-sig").splitlines()[1]  # decimal commas

    failed = snakemake(study, COHORT, check=False)
    assert failed.returncode != 0 and "the header looks semicolon-separated" in failed.stdout + failed.stderr

    tiny = (study / "tiny.yaml").read_text()
    (study / "tiny.yaml").write_text(tiny + "registry_format: {sep: ';', decimal: ',', dates: '%d.%m.%Y'}\n")
    snakemake(study, COHORT)
    pd.testing.assert_frame_equal(pd.read_csv(study / COHORT, sep="\t"), pd.read_csv(tiny_run / COHORT, sep="\t"))
