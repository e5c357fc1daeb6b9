"""Perturbation robustness: the chain's steps, determinism, ICC(1,1) against pingouin, and the ICC on pyradiomics'
own test images."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from tests.conftest import REPO, SHARED_DATA
from wbrad.lesions.extract import make_extractor
from wbrad.robustness.icc import icc1, icc_table
from wbrad.robustness.perturb import (
    Chain,
    adapt_volume,
    estimate_noise_sd,
    perturbed_features,
    randomise_contour,
    translate,
)
from wbrad.robustness.report import ROBUSTNESS_COLUMNS, feature_class, plot_icc, robustness_rows

CASES_DIR = SHARED_DATA / "pyradiomics_testcases" / "data"
CASES = ["brain1", "brain2", "breast1", "lung1", "lung2"]
CT_PARAMS = REPO / "params" / "ct.yaml"


def _sphere(shape=(20, 24, 24), radius=6.0, spacing=(1.0, 1.0, 2.0)) -> tuple[sitk.Image, sitk.Image]:
    """A textured sphere: image (noise + a gradient) and its uint8 label map (label 1)."""
    z, y, x = np.indices(shape)
    centre = (np.asarray(shape) - 1) / 2
    inside = ((z - centre[0]) * spacing[2]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius**2
    values = 100 + 5 * x + np.random.default_rng(1).normal(0, 20, shape)
    image, labels = sitk.GetImageFromArray(values), sitk.GetImageFromArray(inside.astype(np.uint8))
    for img in (image, labels):
        img.SetSpacing(spacing)
    return image, labels


def test_noise_estimate_recovers_gaussian_sd():
    noise = np.random.default_rng(0).normal(0, 10.0, (10, 64, 64))
    assert estimate_noise_sd(sitk.GetImageFromArray(noise + 500)) == pytest.approx(10.0, rel=0.05)


def test_translation_by_whole_voxel_is_a_shift_and_zero_is_identity():
    image, labels = _sphere()
    same_img, same_mask = translate(image, labels, (0, 0, 0))
    assert np.allclose(sitk.GetArrayFromImage(same_img), sitk.GetArrayFromImage(image))
    assert (sitk.GetArrayFromImage(same_mask) == sitk.GetArrayFromImage(labels)).all()
    moved, mask = translate(image, labels, (1, 0, 0))  # one voxel along x: output voxel i samples input i + 1
    assert np.allclose(sitk.GetArrayFromImage(moved)[:, :, :-1], sitk.GetArrayFromImage(image)[:, :, 1:])
    assert (sitk.GetArrayFromImage(mask)[:, :, :-1] == sitk.GetArrayFromImage(labels)[:, :, 1:]).all()


def test_volume_adaptation_hits_the_target_and_nests():
    mask = sitk.GetArrayFromImage(_sphere()[1]).astype(bool)
    n, rng = int(mask.sum()), np.random.default_rng(0)
    grown = adapt_volume(mask, round(1.2 * n), (2, 1, 1), rng)
    shrunk = adapt_volume(mask, round(0.8 * n), (2, 1, 1), rng)
    assert (grown.sum(), shrunk.sum()) == (round(1.2 * n), round(0.8 * n))
    assert grown[mask].all() and not shrunk[~mask].any()  # growth only adds, shrinking only removes


def test_contour_randomisation_moves_the_boundary_a_little():
    mask = sitk.GetArrayFromImage(_sphere()[1]).astype(bool)
    rng = np.random.default_rng(0)
    assert (randomise_contour(mask, (2, 1, 1), rng, 0.0, 2.0) == mask).all()
    new = randomise_contour(mask, (2, 1, 1), rng, 1.0, 2.0)
    dice = 2 * (new & mask).sum() / (new.sum() + mask.sum())
    assert 0.8 < dice < 0.99


def test_perturbation_is_deterministic_and_uses_the_lesion_extractor():
    image, labels = _sphere()
    extractor = make_extractor(CT_PARAMS)
    one = perturbed_features(image, labels, extractor, Chain(n=3, seed=4))
    again = perturbed_features(image, labels, extractor, Chain(n=3, seed=4))
    other = perturbed_features(image, labels, extractor, Chain(n=3, seed=5))
    pd.testing.assert_frame_equal(one, again)
    assert list(one["perturbation"]) == [1, 2, 3] and (one["status"] == "ok").all()
    assert not np.allclose(one["original_firstorder_Mean"], other["original_firstorder_Mean"])
    assert one["original_shape_VoxelVolume"].nunique() == 3  # every perturbation changes the volume


def test_icc_matches_pingouin_with_missing_values():
    pingouin = pytest.importorskip("pingouin", reason="pingouin not installed: ICC validation against it skipped")
    rng = np.random.default_rng(0)
    n, k = 12, 4
    cube = rng.normal(0, 1, (n, 1, 3)) * [1.0, 0.3, 3.0] + rng.normal(0, 1, (n, k, 3))
    cube[2, 1, 1] = np.nan  # subject 2 leaves feature 1's ICC
    ours = icc1(cube)
    for f in range(3):
        long = pd.DataFrame({"s": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n),
                             "v": cube[:, :, f].ravel()})
        keep = long.groupby("s")["v"].transform(lambda v: v.notna().all())
        ref = pingouin.intraclass_corr(long[keep], targets="s", raters="r", ratings="v").set_index("Type")
        ref = ref.loc["ICC(1,1)"]
        assert ours.loc[f, "icc"] == pytest.approx(ref["ICC"], abs=1e-9)
        assert [ours.loc[f, "icc_low"], ours.loc[f, "icc_high"]] == pytest.approx(list(ref["CI95"]), abs=0.006)
    assert list(ours["n_subjects"]) == [12, 11, 12]


def test_icc_known_values_and_speed():
    rng = np.random.default_rng(0)
    perfect = np.repeat(rng.normal(0, 1, (30, 1, 1)), 5, axis=1)
    pure_noise = rng.normal(0, 1, (2000, 5, 1))
    assert icc1(perfect)["icc"].iloc[0] == pytest.approx(1.0)
    assert icc1(pure_noise)["icc"].iloc[0] == pytest.approx(0.0, abs=0.03)
    # 500 lesions x 10 perturbations x 1,000 features, as a long table
    long = pd.DataFrame(rng.normal(0, 1, (5000, 1000)), columns=[f"f{i}" for i in range(1000)])
    long.insert(0, "lesion", np.repeat(np.arange(500), 10))
    long.insert(1, "perturbation", np.tile(np.arange(10), 500))
    start = time.perf_counter()
    table = icc_table(long, "lesion", "perturbation")
    assert time.perf_counter() - start < 5.0
    assert len(table) == 1000 and table["n_subjects"].eq(500).all() and table["n_repeats"].eq(10).all()


@pytest.fixture(scope="module")
def testcase_robustness() -> pd.DataFrame:
    if not CASES_DIR.is_dir():
        pytest.skip(f"pyradiomics test cases not found at {CASES_DIR} (see shared/data/pyradiomics_testcases)")
    extractor, tables = make_extractor(CT_PARAMS), []
    for case in CASES:
        image = sitk.ReadImage(str(CASES_DIR / f"{case}_image.nrrd"))
        labels = sitk.Cast(sitk.ReadImage(str(CASES_DIR / f"{case}_label.nrrd")) == 1, sitk.sitkUInt8)
        tables.append(perturbed_features(image, labels, extractor, Chain(n=6, seed=0)).assign(patient_id=case))
    return robustness_rows(pd.concat(tables, ignore_index=True), "CT")


def test_pyradiomics_cases_volume_and_mean_robust_texture_not(testcase_robustness: pd.DataFrame, tmp_path: Path):
    """Seed 0, 6 perturbations of the 5 cases: VoxelVolume 0.991, Mean 0.998; GLSZM SmallAreaEmphasis 0.69 (0.94
    when the chain leaves the noise out) and GLCM Correlation 0.12 are not robust."""
    icc = testcase_robustness.set_index("feature")["icc"]
    assert icc["original_shape_VoxelVolume"] == pytest.approx(0.991, abs=0.02)
    assert icc["original_firstorder_Mean"] == pytest.approx(0.998, abs=0.02)
    assert icc["original_glszm_SmallAreaEmphasis"] == pytest.approx(0.69, abs=0.05)
    assert icc["original_glcm_Correlation"] == pytest.approx(0.12, abs=0.05)
    assert min(icc["original_shape_VoxelVolume"], icc["original_firstorder_Mean"]) > 0.9
    assert max(icc["original_glszm_SmallAreaEmphasis"], icc["original_glcm_Correlation"]) < 0.75
    assert list(testcase_robustness.columns) == ROBUSTNESS_COLUMNS
    rho = testcase_robustness.set_index("feature")["volume_rho"]  # the 5 lesions' ranks: a volume surrogate is 1
    assert rho["original_shape_MeshVolume"] == pytest.approx(1.0) and rho["volume_ml"] == pytest.approx(1.0)
    assert rho["original_firstorder_Mean"] == pytest.approx(0.2)
    assert testcase_robustness["n_lesions"].eq(5).all() and testcase_robustness["n_perturbations"].eq(6).all()
    assert feature_class("original_glszm_SmallAreaEmphasis") == "glszm" and feature_class("volume_ml") == "geometry"
    plot_icc(testcase_robustness, tmp_path / "robustness.png")
    assert (tmp_path / "robustness.png").stat().st_size > 10_000
