"""The synthetic cohort: files per the data contract, anatomy, lesions, PET and the survival model against truth."""

from __future__ import annotations

import csv
import hashlib
import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage
from scipy.spatial.transform import Rotation
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from wbrad.lesions.extract import crop_lesions
from wbrad.synth import COEFFICIENTS, SIZES, draw_patients, followup, oracle_cindex, write_cohort
from wbrad.synth.cohort import touching_border, write_patient
from wbrad.synth.followup import axial_diameters, split_normal
from wbrad.synth.lesions import Lesion
from wbrad.synth.pet import BLOOD_POOL, BURDEN_MIN_ML, draw_physiology
from wbrad.synth.phantom import VERTEBRAE
from wbrad.synth.registry import REGISTRY_COLUMNS

REFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalsegmentator_refs"
N = 4


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    write_cohort(out, n_patients=N, seed=3, size="tiny", pet_share=0.5)
    return out


@pytest.fixture(scope="module")
def truth(cohort) -> dict:
    return json.loads((cohort / "truth.json").read_text())


@pytest.fixture(scope="module")
def manifest(cohort) -> pd.DataFrame:
    return pd.read_csv(cohort / "manifest.tsv", sep="\t", keep_default_na=False)


def _array(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _ct_rows(manifest: pd.DataFrame):
    return manifest[manifest.modality == "CT"].itertuples()


def test_same_seed_gives_identical_tables_and_truth(cohort, tmp_path):
    again = tmp_path / "again"
    write_cohort(again, n_patients=N, seed=3, size="tiny", pet_share=0.5)
    for name in ("registry.csv", "manifest.tsv", "truth.json"):
        assert (again / name).read_bytes() == (cohort / name).read_bytes(), name
    assert (
        _array(again / "images/P002/baseline/ct.nii.gz").tolist()
        == _array(cohort / "images/P002/baseline/ct.nii.gz").tolist()
    )


def test_registry_and_manifest_follow_the_contract(cohort, manifest, truth):
    registry = pd.read_csv(cohort / "registry.csv")
    assert list(registry.columns) == REGISTRY_COLUMNS
    assert list(registry.patient_id) == [f"P{i:03d}" for i in range(1, N + 1)]
    assert set(registry.sex) <= {"M", "F"} and set(registry.braf) <= {"mutant", "wildtype"}
    assert set(registry.best_response) <= {"CR", "PR", "SD", "PD"}
    assert registry.ecog.between(0, 4).all() and (registry.os_days >= registry.pfs_days).all()
    assert list(manifest.columns) == [
        "patient_id",
        "timepoint",
        "scan_date",
        "modality",
        "image",
        "lesions",
        "segmentation",
        "scanner",
    ]
    for row in manifest.itertuples():
        assert (cohort / row.image).is_file()
        assert row.modality == "PT" or ((cohort / row.lesions).is_file() and (cohort / row.segmentation).is_dir())
        assert row.modality == "CT" or row.lesions == ""
        profile = truth["patients"][row.patient_id]["scanner"]
        assert row.scanner == (profile["name"] if row.modality == "CT" else "")  # one scanner per patient
        start = pd.Timestamp(registry.set_index("patient_id").at[row.patient_id, "therapy_start"])
        day = (pd.Timestamp(row.scan_date) - start).days
        os_days = registry.set_index("patient_id").at[row.patient_id, "os_days"]
        assert (-28 <= day <= -3) if row.timepoint == "baseline" else (0 < day < os_days)
    pet = manifest[manifest.modality == "PT"].patient_id.unique()
    assert len(pet) == round(0.5 * N)
    assert sorted(pet) == sorted(p for p, r in truth["patients"].items() if r["pet"])


def test_every_class_file_is_binary_on_the_ct_geometry(cohort, manifest):
    total = (
        {r["name"] for r in csv.DictReader((REFS / "class_map_total.tsv").open(), delimiter="\t")}
        if REFS.is_dir()
        else None
    )
    for row in _ct_rows(manifest):
        ct = sitk.ReadImage(str(cohort / row.image))
        assert ct.GetPixelID() == sitk.sitkInt16 and ct.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1)
        lesions = sitk.ReadImage(str(cohort / row.lesions))
        assert lesions.GetPixelID() == sitk.sitkUInt16
        seg = cohort / row.segmentation
        names = {p.name.removesuffix(".nii.gz") for p in (seg / "total").iterdir()}
        required = {
            "spleen",
            "kidney_left",
            "kidney_right",
            "liver",
            "aorta",
            "lung_upper_lobe_left",
            "lung_lower_lobe_left",
            "lung_upper_lobe_right",
            "lung_middle_lobe_right",
            "lung_lower_lobe_right",
            "autochthon_left",
            "autochthon_right",
            "iliopsoas_left",
            "iliopsoas_right",
            "heart",
            "urinary_bladder",
            "vertebrae_S1",
            "sacrum",
            *(f"vertebrae_T{k}" for k in (10, 11, 12)),
            *(f"vertebrae_L{k}" for k in range(1, 6)),
        }
        assert required <= names
        if total is not None:
            assert names <= total
        assert {p.name for p in (seg / "tissue_types").iterdir()} == {
            "subcutaneous_fat.nii.gz",
            "torso_fat.nii.gz",
            "skeletal_muscle.nii.gz",
        }
        for path in [*(seg / "total").iterdir(), *(seg / "tissue_types").iterdir()]:
            mask = sitk.ReadImage(str(path))
            assert mask.GetPixelID() == sitk.sitkUInt8, path
            assert mask.GetSize() == ct.GetSize() and mask.GetOrigin() == ct.GetOrigin()
            assert mask.GetSpacing() == ct.GetSpacing() and mask.GetDirection() == ct.GetDirection()
            assert set(np.unique(sitk.GetArrayViewFromImage(mask))) <= {0, 1}
        for name in required:
            assert _array(seg / "total" / f"{name}.nii.gz").any(), (row.patient_id, row.timepoint, name)


def test_vertebrae_are_ordered_along_z(cohort, manifest):
    order = [
        "sacrum",
        "vertebrae_S1",
        *(f"vertebrae_L{k}" for k in range(5, 0, -1)),
        "vertebrae_T12",
        "vertebrae_T11",
        "vertebrae_T10",
    ]
    assert order == [v[0] for v in VERTEBRAE[: len(order)]]
    for row in _ct_rows(manifest):
        spans = []
        for name in order:
            z = np.flatnonzero(_array(Path(cohort / row.segmentation / "total" / f"{name}.nii.gz")).any(axis=(1, 2)))
            spans.append((z.min(), z.max(), z.mean()))
        for (_lo, hi_below, mid_below), (lo_above, _hi, mid_above) in pairwise(spans):
            assert mid_below < mid_above  # z grows towards the head
            # with a disc gap between, where the body lies straight (a tilted body's vertebrae share slices)
            assert row.timepoint != "baseline" or hi_below < lo_above


def test_tissue_hu_in_realistic_ranges(cohort, manifest):
    row = next(_ct_rows(manifest))
    ct, seg = _array(cohort / row.image).astype(float), cohort / row.segmentation
    lesions = _array(cohort / row.lesions) > 0

    def mean(task: str, name: str) -> float:
        return ct[(_array(seg / task / f"{name}.nii.gz") > 0) & ~lesions].mean()

    assert -130 < mean("tissue_types", "subcutaneous_fat") < -70
    assert -120 < mean("tissue_types", "torso_fat") < -60
    assert 20 < mean("tissue_types", "skeletal_muscle") < 55
    assert 50 < mean("total", "liver") < 70
    assert -900 < mean("total", "lung_lower_lobe_left") < -800
    assert 150 < mean("total", "vertebrae_L3") < 600
    assert -1020 < ct[0, 0, :5].mean() < -980  # air in the corner


def test_lesion_truth_matches_the_label_maps(cohort, manifest, truth):
    n = 0
    for row in _ct_rows(manifest):
        labels = _array(cohort / row.lesions)
        voxel = float(np.prod(sitk.ReadImage(str(cohort / row.lesions)).GetSpacing()))  # as stored (float32)
        expected = truth["patients"][row.patient_id]["timepoints"][row.timepoint]["lesions"]
        counts = np.bincount(labels.ravel())
        assert sorted(int(k) for k in expected) == [k for k in range(1, len(counts)) if counts[k]]
        for label, lesion in expected.items():
            n += 1
            assert lesion["voxel_volume_mm3"] == counts[int(label)] * voxel
            assert lesion["site"] in {"liver", "lung", "lymph_node", "subcutaneous"}
            # the voxel count approximates the continuous ellipsoid
            assert lesion["voxel_volume_mm3"] == pytest.approx(lesion["ellipsoid_volume_mm3"], rel=0.6, abs=3 * voxel)
        # lesions are at least 2 voxels apart: dilating one by 2 voxels never touches another
        for label in expected:
            grown = sitk.GetArrayFromImage(
                sitk.BinaryDilate(
                    sitk.GetImageFromArray((labels == int(label)).astype(np.uint8)), [2, 2, 2], sitk.sitkBox
                )
            )
            assert set(np.unique(labels[grown > 0])) <= {0, int(label)}
    assert n > 0


def test_truncated_is_the_lesion_stage_border_rule(cohort, manifest, truth):
    """``truncated`` in truth.json is what the lesion stage calls truncated: the mask touches a face of the image."""
    for row in _ct_rows(manifest):
        image, labels = (sitk.ReadImage(str(cohort / p)) for p in (row.image, row.lesions))
        expected = truth["patients"][row.patient_id]["timepoints"][row.timepoint]["lesions"]
        assert {str(c.lesion): bool(c.border) for c in crop_lesions(image, labels, 0)} == {
            k: le["truncated"] for k, le in expected.items()}


def test_touching_border_finds_masks_on_any_face():
    labels = np.zeros((6, 7, 8), np.uint16)
    labels[0, 2:4, 2:4] = 1  # bottom slice
    labels[2:4, 2:4, 7] = 2  # last column
    labels[2:4, 2:4, 2:4] = 3  # inside
    labels[3, 6, 5] = 5  # last row
    assert touching_border(labels) == {1, 2, 5}
    assert crop_lesions(sitk.GetImageFromArray(labels.astype(np.int16)), sitk.GetImageFromArray(labels), 0)[2].border \
        == ()


def test_l3_muscle_area_from_masks_matches_the_analytic_truth(cohort, manifest, truth):
    pixel_cm2 = SIZES["tiny"].spacing_mm[0] * SIZES["tiny"].spacing_mm[1] / 100
    for row in _ct_rows(manifest):
        scan = truth["patients"][row.patient_id]["timepoints"][row.timepoint]
        l3 = np.flatnonzero(_array(cohort / row.segmentation / "total/vertebrae_L3.nii.gz").any(axis=(1, 2)))
        assert scan["l3_slice"] == (l3.min() + l3.max()) // 2
        muscle = _array(cohort / row.segmentation / "tissue_types/skeletal_muscle.nii.gz")[scan["l3_slice"]]
        assert muscle.sum() * pixel_cm2 == pytest.approx(scan["l3_sma_cm2"], rel=0.02)
        height = pd.read_csv(cohort / "registry.csv").set_index("patient_id").at[row.patient_id, "height_cm"]
        assert scan["l3_smi_cm2m2"] == pytest.approx(scan["l3_sma_cm2"] / (height / 100) ** 2)


def test_pet_liver_and_lesion_suvmax(cohort, manifest, truth):
    pets = manifest[manifest.modality == "PT"]
    assert len(pets)
    suvmax = []
    for row in pets.itertuples():
        pet = sitk.ReadImage(str(cohort / row.image))
        assert pet.GetPixelID() == sitk.sitkFloat32 and pet.GetSpacing() == SIZES["tiny"].pet_spacing_mm
        seg = cohort / f"images/{row.patient_id}/{row.timepoint}/seg/total/liver.nii.gz"
        liver = sitk.Resample(sitk.ReadImage(str(seg)), pet, sitk.Transform(), sitk.sitkNearestNeighbor)
        liver = sitk.GetArrayFromImage(sitk.BinaryErode(liver, [1, 1, 1]))
        assert sitk.GetArrayFromImage(pet)[liver > 0].mean() == pytest.approx(2.0, abs=0.25)
        lesions = truth["patients"][row.patient_id]["timepoints"][row.timepoint]["lesions"]
        suvmax += [le["suvmax"] for le in lesions.values() if le["suvmax"] is not None]
    assert suvmax and all(3 <= s <= 20 for s in suvmax)


def test_a_cohort_of_one_patient_is_written_with_an_undefined_oracle(tmp_path: Path):
    write_cohort(tmp_path, n_patients=1, seed=0, size="tiny")
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert len(truth["patients"]) == 1 and truth["oracle_cindex"] == {"os": None, "pfs": None}


def test_oracle_cindex_in_the_intended_range():
    patients = draw_patients(400, seed=11)
    assert 0.80 <= oracle_cindex(patients)["os"] <= 0.89
    events = np.mean([p.clinical["os_event"] for p in patients])
    assert 0.55 <= events <= 0.75  # 25-45 % censored


def test_cox_fit_recovers_the_true_coefficients():
    patients = draw_patients(800, seed=5)
    names = ["log_tumour_volume_ml", "rel_change_fu1", "l3_smi_cm2m2", "log_ldh", "ecog", "age"]
    x = pd.DataFrame([{**p.latent, "ecog": p.clinical["ecog"], "age": p.clinical["age"]} for p in patients])[names]
    y = Surv.from_arrays([p.clinical["os_event"] == 1 for p in patients], [p.clinical["os_days"] for p in patients])
    fitted = CoxPHSurvivalAnalysis().fit(x, y).coef_
    for name, beta in zip(names, fitted, strict=True):
        true = COEFFICIENTS["os"][name]
        assert beta == pytest.approx(true, abs=max(0.25 * abs(true), 0.012)), name


def _on_pet(mask: Path, pet: sitk.Image, erode: int = 0) -> np.ndarray:
    image = sitk.Resample(sitk.ReadImage(str(mask)), pet, sitk.Transform(), sitk.sitkNearestNeighbor)
    return sitk.GetArrayFromImage(sitk.BinaryErode(image, [erode] * 3) if erode else image) > 0


def test_pet_has_physiological_uptake_where_fdg_has_it(cohort, manifest, truth):
    pets = manifest[manifest.modality == "PT"]
    for row in pets.itertuples():
        physiology = truth["patients"][row.patient_id]["physiology"]
        pet = sitk.ReadImage(str(cohort / row.image))
        suv = sitk.GetArrayFromImage(pet)
        seg = cohort / f"images/{row.patient_id}/{row.timepoint}/seg/total"
        bladder = _on_pet(seg / "urinary_bladder.nii.gz", pet, erode=1)
        assert np.median(suv[bladder]) == pytest.approx(physiology["bladder_suv"], rel=0.1)
        heart = suv[_on_pet(seg / "heart.nii.gz", pet)]  # a shell of one or two PET voxels, blurred by the PET
        assert heart.max() == pytest.approx(max(physiology["myocardium_suv"], BLOOD_POOL), rel=0.35)
        kidneys = np.concatenate([suv[_on_pet(seg / f"kidney_{side}.nii.gz", pet)] for side in ("left", "right")])
        assert kidneys.max() == pytest.approx(physiology["urine_suv"], rel=0.25)


def test_myocardial_uptake_is_below_suv_4_in_some_patients_and_far_above_in_others():
    myocardium = np.array([draw_physiology(np.random.default_rng(k)).myocardium for k in range(400)])
    assert 0.3 < (myocardium < 4).mean() < 0.7 and myocardium.max() > 10
    urine = [draw_physiology(np.random.default_rng(k)) for k in range(50)]
    assert min(min(p.urine, p.bladder) for p in urine) >= 5


def test_burden_truth_per_pet_scan(truth):
    checked = 0
    for record in truth["patients"].values():
        for scan in record["timepoints"].values():
            lesions = scan["lesions"].values()
            if not record["pet"]:
                assert "burden" not in scan and all(le["burden_ml"] is None for le in lesions)
                continue
            counted = [le["burden_ml"] for le in lesions if le["burden_ml"] >= BURDEN_MIN_ML]
            assert scan["burden"]["threshold_suv"] == 4 and scan["burden"]["min_volume_ml"] == 3
            assert scan["burden"]["tmtv_ml"] == pytest.approx(sum(counted)) and scan["burden"]["lesion_count"] == len(
                counted)
            for lesion in lesions:  # the SUV >= 4 part of a hot lesion with its partial-volume halo
                assert 0 <= lesion["burden_ml"] <= 3 * lesion["ellipsoid_volume_mm3"] / 1000 + 1
                assert lesion["suvmax"] is None or lesion["suvmax"] >= 4 or lesion["burden_ml"] < 1
            checked += 1
    assert checked > 0


# Digests (tests/test_synth.py::_digest) of every scan's NIfTI files, written before follow-ups were repositioned
# (write_cohort(n_patients=4, seed=3, size="tiny", pet_share=0.5)): the aligned cohort must not change.
BEFORE_REPOSITIONING = {
    "P001/baseline": "c28fd07dee51bfdc", "P001/fu1": "bdd63c2e445fc816", "P002/baseline": "f8bdf52dd9062f41",
    "P002/fu1": "b5870628d82fc3bd", "P003/baseline": "3fca978389b77953", "P003/fu1": "459fc2218ff8291e",
    "P003/fu2": "fe96d0614db1f466", "P004/baseline": "4e74b9da2d1611d4", "P004/fu1": "5f5bcd078e29b882",
    "P004/fu2": "dad39ca738630eac",
}


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.nii.gz")):
        image = sitk.ReadImage(str(path))
        h.update(str(path.relative_to(folder)).encode())
        h.update(repr((image.GetSpacing(), image.GetOrigin())).encode())
        h.update(sitk.GetArrayViewFromImage(image).tobytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def aligned(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aligned")
    write_cohort(out, n_patients=N, seed=3, size="tiny", pet_share=0.5, aligned=True)
    return out


def test_aligned_cohort_has_the_images_of_the_cohort_before_repositioning(aligned):
    assert {f"{p.parent.name}/{p.name}": _digest(p) for p in sorted(aligned.glob("images/*/*"))} == BEFORE_REPOSITIONING
    truth = json.loads((aligned / "truth.json").read_text())
    assert truth["lesion_labels"] == "shared"
    assert set(pd.read_csv(aligned / "manifest.tsv", sep="\t").scanner.dropna()) == {"A"}  # the reference only
    for record in truth["patients"].values():
        centres = {}
        for scan in record["timepoints"].values():
            assert "transform" not in scan
            for label, lesion in scan["lesions"].items():
                assert lesion["lesion_id"] in (label, f"new:{label}")
                assert centres.setdefault(label, lesion["centre_mm"]) == lesion["centre_mm"]


def _followups(truth: dict):
    for pid, record in truth["patients"].items():
        for tp, scan in record["timepoints"].items():
            if tp != "baseline":
                yield pid, record, tp, scan


def test_follow_ups_are_moved_and_relabelled_yet_lesion_id_maps_them(cohort, truth):
    assert truth["lesion_labels"] == "independent"
    relabelled = 0
    for pid, record, tp, scan in _followups(truth):
        baseline = record["timepoints"]["baseline"]["lesions"]
        move = scan["transform"]
        assert np.abs(move["translation_mm"]).max() > 0 and 0 < np.abs(move["rotation_deg"]).max() <= 3
        assert 0 < move["deformation"]["max_displacement_mm"] <= np.hypot(3, 6)
        ct, first = (sitk.ReadImage(str(cohort / f"images/{pid}/{t}/ct.nii.gz")) for t in (tp, "baseline"))
        assert (ct.GetSize(), ct.GetSpacing(), ct.GetOrigin(), ct.GetDirection()) == (
            first.GetSize(), first.GetSpacing(), first.GetOrigin(), first.GetDirection())
        labels = sorted(int(k) for k in scan["lesions"])
        assert labels == list(range(1, len(labels) + 1))  # renumbered 1..n
        for label, lesion in scan["lesions"].items():
            relabelled += lesion["lesion_id"] != label
            if lesion["event"] == "matched" and lesion["lesion_id"] in baseline:
                assert lesion["site"] == baseline[lesion["lesion_id"]]["site"]
            assert lesion["event"] in {"matched", "new", "merged", "split"}
        assert set(record["disappeared"][tp]) <= {k for s in record["timepoints"].values() for k in (
            le["lesion_id"] for le in s["lesions"].values())}
    assert relabelled > 0


def _centroid_mm(image: sitk.Image, labels: np.ndarray, label: int) -> np.ndarray:
    index = np.array(ndimage.center_of_mass(labels == label))[::-1]
    return np.asarray(image.GetOrigin()) + index * image.GetSpacing()


def test_moved_lesions_lie_where_the_truth_and_the_transform_put_them(cohort, truth):
    checked = 0
    spacing = np.array(SIZES["tiny"].spacing_mm)
    for pid, record, tp, scan in _followups(truth):
        image = sitk.ReadImage(str(cohort / f"images/{pid}/{tp}/lesions.nii.gz"))
        labels = sitk.GetArrayFromImage(image)
        move = scan["transform"]
        baseline = record["timepoints"]["baseline"]["lesions"]
        for label, lesion in scan["lesions"].items():
            if lesion["event"] == "merged":
                continue
            centroid = _centroid_mm(image, labels, int(label))
            assert np.abs(centroid - lesion["centre_mm"]).max() <= spacing.max()  # voxelisation: under a voxel
            assert (np.abs(centroid - lesion["centre_mm"]) <= spacing).all()
            if lesion["event"] == "matched" and lesion["lesion_id"] in baseline:
                p = np.array(baseline[lesion["lesion_id"]]["centre_mm"])
                q = np.array(move["matrix"]) @ (p - move["centre_mm"]) + move["centre_mm"] + move["translation_mm"]
                reach = move["deformation"]["max_displacement_mm"] + float(np.linalg.norm(spacing))
                assert np.linalg.norm(q - centroid) <= reach
                assert np.linalg.norm(q - lesion["centre_mm"]) <= move["deformation"]["max_displacement_mm"] + 1e-3
                checked += 1
    assert checked > 0


def test_recist_axes_of_the_continuous_lesion():
    sphere = Lesion(1, "liver", np.array([6.0, 6.0, 6.0]), np.eye(3), 0.0, 40, 90, False, 8.0,
                    centre_mm=np.zeros(3))
    tilt = Rotation.from_euler("xyz", [3, -2, 1], degrees=True).as_matrix()
    assert axial_diameters(sphere, 1.0, tilt) == pytest.approx((12.0, 12.0))
    assert axial_diameters(sphere, 1.0, np.eye(3), half=1) == pytest.approx((12.0, 6.0), rel=1e-4)
    assert axial_diameters(sphere, 1.0, np.eye(3), half=-1, gap=2.0) == pytest.approx(
        (2 * np.sqrt(36 - 1), 5.0), rel=1e-3)
    ellipsoid = Lesion(1, "lung", np.array([4.0, 9.0, 5.0]), np.eye(3), 0.0, 40, 90, False, 8.0,
                       centre_mm=np.zeros(3))
    assert axial_diameters(ellipsoid, 1.5, np.eye(3)) == pytest.approx((27.0, 12.0))
    assert split_normal(ellipsoid, 1.0) @ [0, 1, 0] == pytest.approx(1.0, abs=1e-12) or split_normal(
        ellipsoid, 1.0) @ [0, 1, 0] == pytest.approx(-1.0, abs=1e-12)


MERGE_CASE = SPLIT_CASE = (1, 2)  # seed, index of a tiny patient with candidates for both events
MERGE_PID = SPLIT_PID = "P003"


def _forced(tmp_path: Path, monkeypatch, event: str, seed: int, index: int) -> dict:
    """One tiny patient written with ``event`` certain (its planning share set to 1)."""
    monkeypatch.setattr(followup, "EVENT_SHARE", {"merged": float(event == "merged"), "split": float(event == "split")})
    patient = draw_patients(index + 1, seed, 0.0)[index]
    record, _rows, _dicom = write_patient(tmp_path, patient, SIZES["tiny"], seed, index)
    return record


def test_merged_and_split_lesions_hold_their_identities(tmp_path, monkeypatch):
    record = _forced(tmp_path / "merge", monkeypatch, "merged", *MERGE_CASE)
    first = record["events"]["merged"]
    merged = [le for le in record["timepoints"][first]["lesions"].values() if le["event"] == "merged"]
    assert len(merged) == 1 and len(set(merged[0]["merged_ids"])) == 2
    baseline = record["timepoints"]["baseline"]["lesions"]
    assert all(i in baseline or i.startswith("new:") for i in merged[0]["merged_ids"])
    assert len(merged[0]["long_axis_mm"]) == len(merged[0]["centre_mm"]) == 2
    label = next(k for k, le in record["timepoints"][first]["lesions"].items() if le["event"] == "merged")
    mask = _array(tmp_path / "merge" / f"images/{MERGE_PID}/{first}/lesions.nii.gz") == int(label)
    assert ndimage.label(mask)[1] == 1  # one mask, joined
    record = _forced(tmp_path / "split", monkeypatch, "split", *SPLIT_CASE)
    first = record["events"]["split"]
    halves = {k: le for k, le in record["timepoints"][first]["lesions"].items() if le["event"] == "split"}
    assert len(halves) == 2 and len({le["lesion_id"] for le in halves.values()}) == 1
    whole = record["timepoints"]["baseline"]["lesions"][next(iter(halves.values()))["lesion_id"]]
    labels = _array(tmp_path / "split" / f"images/{SPLIT_PID}/{first}/lesions.nii.gz")
    a, b = (int(k) for k in halves)
    grown = ndimage.binary_dilation(labels == a)
    assert not (grown & (labels == b)).any()  # a gap between the fragments
    for le in halves.values():
        assert le["long_axis_mm"] > le["short_axis_mm"] > 0 and le["short_axis_mm"] < whole["long_axis_mm"]
