"""Real public cases through the whole DAG: every stage runs in Snakemake on the shared reference scans, and per-scan
values are checked against those folders' own references (the study: src/wbrad/testing/realcases.py, the values:
docs/real-cases.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad.io import read_tsv
from wbrad.segmentation import MUSCLES, read_class_map, short
from wbrad.study import (
    BODYCOMP,
    COHORT,
    CT_IMAGE,
    DELTA,
    LESION_MAP,
    LESION_TABLE,
    MODEL_DIR,
    PET_PROVENANCE,
    PET_SUV,
    model_paths,
    path,
)
from wbrad.testing import realcases

from ..conftest import SHARED_DATA
from .conftest import snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]  # about 1.5 min on 2 cores

MUSCLE_HU = (-29, 150)
RTSTRUCT_DICE = 0.98  # RTSTRUCT contours rasterised by us against MIRP's NIfTI mask of the same ROI
RTSTRUCT_VOXELS = 0.01  # relative difference in voxel count, same comparison
STS_CT_MASK_VOXELS = 17090  # petct_sts002_mirp README


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """The study of real cases built in a temporary folder and run end to end once; returns the working directory."""
    missing = realcases.missing_folders(SHARED_DATA)
    if missing:
        pytest.skip(f"shared reference data absent: {', '.join(str(SHARED_DATA / m) for m in missing)}")
    workdir = tmp_path_factory.mktemp("real_cases")
    config = realcases.build_study(SHARED_DATA, workdir / "study")
    shutil.copyfile(config, workdir / "tiny.yaml")  # the study's config, under the name conftest.snakemake passes
    snakemake(workdir)
    return workdir


def canonical(path: Path) -> np.ndarray:
    """An image as a ``[z, y, x]`` array in the results' orientation (LPS), read without wbrad."""
    return sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(path)), "LPS"))


def result(workdir: Path, template: str, patient: str = "RC02", timepoint: str = "baseline", **wildcards) -> Path:
    """A result file of one scan (STS_002's by default)."""
    return workdir / path(template, patient=patient, timepoint=timepoint, **wildcards)


def first_row(table: Path) -> pd.Series:
    return read_tsv(table).iloc[0]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_body_composition_of_the_ct_reaching_s1_matches_its_reference_segmentation(real_run):
    row = first_row(result(real_run, BODYCOMP, "RC01"))
    assert row.qc_status == "ok", row.qc_reason
    assert row.l3_slice == 72  # totalsegmentator_refs README: vertebrae_L3 spans z = 65..79
    ct = canonical(realcases.totalseg_file(SHARED_DATA, "example_ct.nii.gz"))
    labels = canonical(realcases.totalseg_file(SHARED_DATA, "example_seg_fast_force_split.nii.gz"))
    label_of = {name: label for label, name in read_class_map(SHARED_DATA / realcases.TOTALSEG
                                                              / "class_map_total.tsv").items()}
    for organ in ("liver", "spleen"):
        mask = labels == label_of[organ]
        assert row[f"{organ}_ml"] == pytest.approx(np.count_nonzero(mask) * 27 / 1000, abs=1e-9)
        assert row[f"{organ}_hu"] == pytest.approx(ct[mask].mean(), abs=1e-9)
    # licence-free route: muscle is the union of the `total` muscle classes, within the muscle HU window
    muscle = np.isin(labels[72], [label_of[short(name)] for name in MUSCLES])
    in_window = muscle & (ct[72] >= MUSCLE_HU[0]) & (ct[72] <= MUSCLE_HU[1])
    assert row.l3_sma_cm2 == pytest.approx(np.count_nonzero(in_window) * 9 / 100, abs=1e-9)
    assert row.l3_muscle_hu == pytest.approx(ct[72][in_window].mean(), abs=1e-9)
    assert np.count_nonzero(muscle) * 9 / 100 == pytest.approx(49.68 + 13.50)  # README: autochthon + iliopsoas


def test_organs_of_the_small_ct_match_totalsegmentator_statistics(real_run):
    row = first_row(result(real_run, BODYCOMP, "RC01", "fu1"))
    statistics = realcases.totalseg_statistics(SHARED_DATA)
    for organ in ("liver", "spleen"):
        assert row[f"{organ}_ml"] == pytest.approx(statistics[organ]["volume"] / 1000, abs=1e-9)
        assert row[f"{organ}_hu"] == pytest.approx(statistics[organ]["intensity"], abs=5e-6)  # rounded to 5 decimals


@pytest.mark.parametrize(("patient", "timepoint"), [("RC01", "fu1"), ("RC02", "baseline"), ("RC03", "baseline")])
def test_scans_without_l3_fail_the_l3_checks_with_a_reason(real_run, patient, timepoint):
    row = first_row(result(real_run, BODYCOMP, patient, timepoint))
    assert row.qc_status == "failed" and "vertebrae_L3 missing" in row.qc_reason
    assert np.isnan(row.l3_sma_cm2) and np.isnan(row.l3_slice)


def test_dicom_ct_and_rtstruct_match_the_nifti_ground_truth(real_run):
    ct = result(real_run, CT_IMAGE)
    assert np.array_equal(canonical(ct), canonical(realcases.sts_file(SHARED_DATA, "CT", "image")))
    ours = canonical(result(real_run, LESION_MAP)) == 1
    truth = canonical(realcases.sts_file(SHARED_DATA, "CT", "mask")) > 0
    assert np.count_nonzero(truth) == STS_CT_MASK_VOXELS
    assert abs(np.count_nonzero(ours) / STS_CT_MASK_VOXELS - 1) <= RTSTRUCT_VOXELS
    assert dice(ours, truth) >= RTSTRUCT_DICE
    lesion = first_row(result(real_run, LESION_TABLE, modality="ct"))
    voxel_ml = np.prod(sitk.ReadImage(str(ct)).GetSpacing()) / 1000
    assert lesion.volume_ml == pytest.approx(np.count_nonzero(ours) * voxel_ml, rel=1e-9)
    truth_hu = canonical(realcases.sts_file(SHARED_DATA, "CT", "image"))[truth].astype(float).mean()  # README: 59.02
    assert lesion.original_firstorder_Mean == pytest.approx(truth_hu, abs=1.0)  # 1 HU: the masks may differ by 2 %


def test_pet_in_units_gml_is_kept_as_suv_and_its_suvmax_matches_the_ground_truth(real_run):
    assert json.loads(result(real_run, PET_PROVENANCE).read_text())["suv"]["factor"] == 1.0
    truth = canonical(realcases.sts_file(SHARED_DATA, "PET", "image"))
    assert np.abs(canonical(result(real_run, PET_SUV)) - truth).max() <= 1e-4
    mask = canonical(realcases.sts_file(SHARED_DATA, "PET", "mask")) > 0
    lesion = first_row(result(real_run, LESION_TABLE, modality="pet"))
    assert lesion.status == "ok" and lesion.suvmax == pytest.approx(truth[mask].max(), abs=1e-4)  # README: 21.676


def test_lung_lesion_features_equal_the_pyradiomics_baseline(real_run):
    lesion = first_row(result(real_run, LESION_TABLE, "RC03", modality="ct"))
    baseline = realcases.baseline_features(SHARED_DATA)
    assert lesion.status == "ok" and len(baseline) > 100
    off = {name: (lesion[name], value) for name, value in baseline.items()
           if not np.isclose(lesion[name], value, rtol=1e-6, atol=0)}
    assert not off, off


def test_cohort_of_three_patients_gets_a_clear_model_note_and_the_run_finishes(real_run):
    cohort = read_tsv(real_run / COHORT, dtype={"patient_id": "string"})
    assert list(cohort.patient_id) == ["RC01", "RC02", "RC03"]
    assert list(read_tsv(real_run / path(DELTA, patient="RC01")).timepoint) == ["fu1"]
    for endpoint in ("os", "pfs"):
        paths = model_paths(real_run / path(MODEL_DIR, endpoint=endpoint), binary=False)
        assert all(path.is_file() for path in paths.values())
        metrics = read_tsv(paths["metrics"])
        assert metrics["note"].str.startswith("not enough data for 5-fold cross-validation").all()
