"""Scanner profiles and same-day retest scans of the synthetic cohort (wbrad.synth.scanner, cohort._retest_scan)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from wbrad.synth import SIZES, draw_patients, write_cohort
from wbrad.synth.cohort import RETEST, RETEST_SCALE, write_patient
from wbrad.synth.followup import MAX_ROTATION_DEG, MAX_SHIFT_MM
from wbrad.synth.scanner import PROFILES, assign_scanners

SEED, INDEX = 3, 1  # a tiny patient with lesions in the liver


def _array(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@pytest.fixture(scope="module")
def profiled(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """One patient's scans rendered by each profile."""
    out = {}
    for profile in PROFILES:
        folder = tmp_path_factory.mktemp(profile.name)
        patient = draw_patients(INDEX + 1, SEED, 0.0)[INDEX]
        record, _rows, _dicom = write_patient(folder, patient, SIZES["tiny"], SEED, INDEX, scanner=profile)
        out[profile.name] = folder / f"images/{patient.pid}", record
    return out


def _no_scanner(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "scanner"}


def test_profiles_change_noise_and_sharpness_not_masks_or_truth(profiled):
    reference, truth = profiled["A"]
    liver_sd, liver_mean = {}, {}
    for name, (folder, record) in profiled.items():
        assert _no_scanner(record) == _no_scanner(truth), name  # every truth value as with the reference
        for tp in record["timepoints"]:
            np.testing.assert_array_equal(_array(folder / tp / "lesions.nii.gz"),
                                          _array(reference / tp / "lesions.nii.gz"))
            np.testing.assert_array_equal(_array(folder / tp / "seg/tissue_types/skeletal_muscle.nii.gz"),
                                          _array(reference / tp / "seg/tissue_types/skeletal_muscle.nii.gz"))
        ct = _array(folder / "baseline/ct.nii.gz").astype(float)
        lesions = ndimage.binary_dilation(_array(folder / "baseline/lesions.nii.gz") > 0, iterations=2)
        liver = ndimage.binary_erosion(_array(folder / "baseline/seg/total/liver.nii.gz") > 0, iterations=2) & ~lesions
        liver_sd[name], liver_mean[name] = ct[liver].std(), ct[liver].mean()
        assert record["scanner"]["name"] == name
    assert liver_sd["B"] < 0.75 * liver_sd["A"] and liver_sd["C"] > 1.3 * liver_sd["A"]  # smooth and sharp kernels
    assert max(liver_mean.values()) - min(liver_mean.values()) < 2.0  # HU calibration kept


def test_smooth_profile_blurs_edges_sharp_profile_keeps_them(profiled):
    """Across the body's edge (air to fat) a smooth kernel spreads the step; noise aside, the sharp one does not."""
    steps = {}
    for name, (folder, _record) in profiled.items():
        ct = _array(folder / "baseline/ct.nii.gz").astype(float)
        row = ct[:, ct.shape[1] // 2, :]  # a coronal line through the body's side
        steps[name] = np.median(np.abs(np.diff(row, axis=1)).max(axis=1))
    assert steps["B"] < 0.97 * steps["A"] and steps["C"] >= 0.95 * steps["A"]


def test_scanners_are_balanced_and_fixed_by_the_seed():
    profiles = assign_scanners(40, 0)
    counts = pd.Series([p.name for p in profiles]).value_counts()
    assert set(counts.index) == {"A", "B", "C"} and counts.max() - counts.min() <= 1
    assert [p.name for p in assign_scanners(40, 0)] == [p.name for p in profiles]
    assert [p.name for p in assign_scanners(40, 1)] != [p.name for p in profiles]
    assert {p.name for p in assign_scanners(10, 0, 1)} == {"A"}
    with pytest.raises(ValueError, match="1 to 3"):
        assign_scanners(10, 0, 4)


def test_retest_is_a_same_day_rescan_with_baseline_labels(tmp_path):
    write_cohort(tmp_path, n_patients=3, seed=SEED, size="tiny", pet_share=1.0, n_jobs=1, retest=1)
    manifest = pd.read_csv(tmp_path / "manifest.tsv", sep="\t", keep_default_na=False)
    truth = json.loads((tmp_path / "truth.json").read_text())
    rows = manifest[manifest.timepoint == RETEST]
    assert len(rows) == 1 and rows.iloc[0].modality == "CT"  # one patient, CT only
    row = rows.iloc[0]
    baseline = manifest[(manifest.patient_id == row.patient_id) & (manifest.timepoint == "baseline")].iloc[0]
    assert (row.scan_date, row.scanner) == (baseline.scan_date, baseline.scanner)
    record = truth["patients"][row.patient_id]
    first, again = record["timepoints"]["baseline"], record["timepoints"][RETEST]
    assert again["scan_day"] == first["scan_day"] and again["l3_sma_cm2"] == pytest.approx(first["l3_sma_cm2"],
                                                                                           rel=0.01)
    assert set(again["lesions"]) <= set(first["lesions"]) and again["lesions"]
    for label, lesion in again["lesions"].items():
        assert (lesion["lesion_id"], lesion["event"], lesion["site"]) == (label, "matched",
                                                                           first["lesions"][label]["site"])
        assert lesion["ellipsoid_volume_mm3"] == first["lesions"][label]["ellipsoid_volume_mm3"]
    move = again["transform"]
    assert (np.abs(move["translation_mm"]) <= RETEST_SCALE * np.array(MAX_SHIFT_MM) + 1e-3).all()
    assert 0 < np.abs(move["rotation_deg"]).max() <= RETEST_SCALE * MAX_ROTATION_DEG + 1e-3
    folder = tmp_path / "images" / row.patient_id
    ct, ct0 = (_array(folder / tp / "ct.nii.gz").astype(float) for tp in (RETEST, "baseline"))
    labels, labels0 = (_array(folder / tp / "lesions.nii.gz") for tp in (RETEST, "baseline"))
    assert not np.array_equal(ct, ct0) and not (folder / RETEST / "pet.nii.gz").exists()
    for label in again["lesions"]:  # the same lesion on the rescan: its HU as at baseline, noise aside
        assert ct[labels == int(label)].mean() == pytest.approx(ct0[labels0 == int(label)].mean(), abs=10)
    assert RETEST not in pd.read_csv(tmp_path / "registry.csv").columns
    assert all(RETEST not in r["timepoints"] for pid, r in truth["patients"].items() if pid != row.patient_id)


def test_dicom_export_names_the_patients_scanner(tmp_path):
    profile = PROFILES[2]
    patient = draw_patients(1, SEED, 0.0)[0]
    _record, rows, dicom_rows = write_patient(tmp_path, patient, SIZES["tiny"], SEED, 0, dicom=True, scanner=profile)
    assert [r["scanner"] for r in dicom_rows] == [r["scanner"] for r in rows] == [profile.name] * len(rows)
    for row in dicom_rows:
        first = pydicom.dcmread(sorted((tmp_path / row["image"]).iterdir())[0], stop_before_pixels=True)
        assert (first.Manufacturer, first.ManufacturerModelName, first.ConvolutionKernel) == (
            "CANON_MEDICAL_SYSTEMS", "Aquilion ONE", "FC13")
        assert first.SeriesDescription == "CT WB 3.0 FC13"
