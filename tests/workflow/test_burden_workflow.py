"""PET tumour burden in the tiny workflow run: outputs for exactly the PET scans, agreement with the synthetic truth,
the cohort's burden columns, and the MIP in the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad.burden.columns import COHORT_VALUES, NAMES
from wbrad.burden.maps import ORGAN
from wbrad.study import BURDEN_EXCLUDED, BURDEN_LESION_TABLE, BURDEN_LESIONS, BURDEN_MIP, BURDEN_TABLE, PET_SUV, result
from wbrad.truthcheck import check_burden

from .conftest import snakemake

pytestmark = pytest.mark.workflow


def read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def _scans(tiny_run) -> pd.DataFrame:
    """patient_id, timepoint and has_pet of every CT scan."""
    manifest = read_tsv(tiny_run / "cohort/manifest.tsv")
    pet = set(map(tuple, manifest[manifest.modality == "PT"][["patient_id", "timepoint"]].values))
    ct = manifest[manifest.modality == "CT"][["patient_id", "timepoint"]].copy()
    ct["has_pet"] = [(p, tp) in pet for p, tp in ct.values]
    return ct


def test_burden_outputs_exist_exactly_for_pet_scans(tiny_run):
    scans = _scans(tiny_run)
    assert scans.has_pet.any() and not scans.has_pet.all()
    for patient, timepoint, has_pet in scans.values:
        where = {"patient": patient, "timepoint": timepoint}
        assert result(tiny_run / "results", BURDEN_TABLE, **where).exists() == has_pet
        if not has_pet:
            continue
        pet = sitk.ReadImage(str(result(tiny_run / "results", PET_SUV, **where)))
        labels = sitk.ReadImage(str(result(tiny_run / "results", BURDEN_LESIONS, **where)))
        assert labels.GetSize() == pet.GetSize() and labels.GetOrigin() == pet.GetOrigin()
        assert labels.GetSpacing() == pet.GetSpacing() and labels.GetPixelID() == sitk.sitkUInt16
        excluded = sitk.GetArrayFromImage(sitk.ReadImage(str(result(tiny_run / "results", BURDEN_EXCLUDED, **where))))
        assert set(np.unique(excluded)) == {0, 1, 2} and (excluded == ORGAN).sum() > 100  # heart, kidneys, bladder
        row = read_tsv(result(tiny_run / "results", BURDEN_TABLE, **where))
        assert list(row.columns) == NAMES and len(row) == 1
        row = row.iloc[0]
        assert row.threshold_rule == "absolute" and row.threshold_suv == 4 and row.excluded_ml > 0
        assert row.lesion_count == sitk.GetArrayViewFromImage(labels).max()
        assert len(read_tsv(result(tiny_run / "results", BURDEN_LESION_TABLE, **where))) == row.lesion_count
        assert row.contoured_lesions >= row.detected_contoured >= 0 and row.false_positives >= 0
        assert result(tiny_run / "results", BURDEN_MIP, **where).stat().st_size > 10_000


def test_burden_matches_the_synthetic_truth(tiny_run):
    truth = json.loads((tiny_run / "cohort/truth.json").read_text())
    for check in check_burden(truth, tiny_run / "results"):
        assert check.passed, f"{check.name}: {check.detail}"


def test_cohort_has_baseline_burden_and_its_change_at_the_followup(tiny_run):
    cohort = read_tsv(tiny_run / "results/cohort/cohort.tsv").set_index("patient_id")
    dictionary = read_tsv(tiny_run / "results/cohort/dictionary.tsv").set_index("column")
    scans = _scans(tiny_run).set_index(["patient_id", "timepoint"]).has_pet
    columns = [f"burden_{v}" for v in COHORT_VALUES]
    assert set(columns) <= set(cohort.columns) and "delta_rel_burden_tmtv_ml" in cohort.columns
    assert (dictionary.loc[columns, "source"] == "burden.tsv (baseline)").all()
    followed = 0
    for patient in cohort.index:
        if not scans.get((patient, "baseline"), False):
            assert cohort.loc[patient, columns].isna().all()
            continue
        where = {"patient": patient}
        baseline = read_tsv(result(tiny_run / "results", BURDEN_TABLE, timepoint="baseline", **where)).iloc[0]
        assert cohort.loc[patient, "burden_tmtv_ml"] == pytest.approx(baseline.tmtv_ml)
        if scans.get((patient, "fu1"), False):
            fu1 = read_tsv(result(tiny_run / "results", BURDEN_TABLE, timepoint="fu1", **where)).iloc[0]
            assert cohort.loc[patient, "delta_abs_burden_tlg"] == pytest.approx(fu1.tlg - baseline.tlg)
            followed += 1
    assert followed > 0


def test_report_shows_the_mip(tiny_run):
    snakemake(tiny_run, "--report", "report_burden.html")
    html = (tiny_run / "report_burden.html").read_text(errors="ignore")
    assert "mip.png" in html and "PET tumour burden" in html
