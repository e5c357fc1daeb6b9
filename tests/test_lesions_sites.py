"""Lesion sites from segmentation masks, and site and PET uptake against a synthetic cohort's truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.conftest import REPO
from wbrad.io import read_tsv
from wbrad.lesions.pet import UPTAKE_COLUMNS, Delineation, lesion_uptake
from wbrad.lesions.run import extract_scan
from wbrad.lesions.sites import lesion_sites
from wbrad.synth import write_cohort


def _write(array: np.ndarray, path: Path) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 3.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return image


@pytest.mark.parametrize("cut_out", [True, False])
def test_sites_from_organs_and_surroundings(tmp_path: Path, cut_out: bool) -> None:
    """Tissue masks without the lesions (TotalSegmentator's) or holding them (licence-free ones may): same sites."""
    shape = (20, 60, 60)
    organs = {"total/liver": (slice(2, 18), slice(5, 25), slice(5, 25)),
              "total/lung_upper_lobe_left": (slice(2, 18), slice(5, 25), slice(35, 55)),
              "total/vertebrae_L3": (slice(2, 18), slice(35, 45), slice(25, 35)),
              "tissue_types/subcutaneous_fat": (slice(2, 18), slice(48, 60), slice(0, 30)),
              "tissue_types/torso_fat": (slice(2, 18), slice(30, 48), slice(0, 20))}
    lesions = np.zeros(shape, np.uint16)
    centres = {1: (10, 15, 15), 2: (10, 15, 45), 3: (10, 40, 30), 4: (10, 54, 12), 5: (10, 39, 10), 6: (10, 40, 50)}
    for k, (z, y, x) in centres.items():
        lesions[z - 1:z + 2, y - 2:y + 3, x - 2:x + 3] = k
    seg = tmp_path / "seg"
    for name, box in organs.items():
        mask = np.zeros(shape, np.uint8)
        mask[box] = 1
        if cut_out and name.startswith("tissue_types"):
            mask[lesions > 0] = 0
        _write(mask, seg / f"{name}.nii.gz")
    labels = _write(lesions, tmp_path / "lesions.nii.gz")
    sites = lesion_sites(labels, seg, [1, 2, 3, 4, 5, 6, 7])
    assert sites == {1: "liver", 2: "lung", 3: "bone", 4: "subcutaneous", 5: "lymph_node", 6: "other"}

    (seg / "total" / "liver.nii.gz").unlink()  # absent classes are simply absent
    assert lesion_sites(labels, seg, [1])[1] == "other"
    _write(np.zeros((5, 5, 5), np.uint8), seg / "total" / "liver.nii.gz")
    with pytest.raises(ValueError, match=r"liver\.nii\.gz is not on the geometry of the lesion map: size"):
        lesion_sites(labels, seg, [1])


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    write_cohort(out, n_patients=4, seed=5, size="tiny", pet_share=1.0)
    return out


def _scans(cohort: Path):
    truth = json.loads((cohort / "truth.json").read_text())
    for patient, record in truth["patients"].items():
        for timepoint, scan in record["timepoints"].items():
            yield cohort / "images" / patient / timepoint, scan["lesions"]


def test_sites_match_the_synthetic_truth(cohort: Path) -> None:
    agree = total = 0
    for folder, truth in _scans(cohort):
        labels = sitk.ReadImage(str(folder / "lesions.nii.gz"))
        sites = lesion_sites(labels, folder / "seg", [int(k) for k in truth])
        agree += sum(sites[int(k)] == lesion["site"] for k, lesion in truth.items())
        total += len(truth)
    assert total >= 10 and agree >= 0.95 * total


def test_pet_uptake_matches_the_synthetic_truth(cohort: Path) -> None:
    """SUVmax exactly the truth's (max over PET voxels whose centre is in the lesion); MTV (whole-lesion delineation)
    within 5 % of the lesion's voxel volume on the CT."""
    n = 0
    for folder, truth in _scans(cohort):
        table = lesion_uptake(sitk.ReadImage(str(folder / "pet.nii.gz")),
                              sitk.ReadImage(str(folder / "lesions.nii.gz")), [int(k) for k in truth])
        for row in table.itertuples():
            lesion = truth[str(row.lesion)]
            if lesion["suvmax"] is None:
                assert np.isnan(row.suvmax) and "no PET voxel centre" in row.reason
                continue
            n += 1
            assert row.suvmax == lesion["suvmax"]
            assert row.mtv_ml * 1000 == pytest.approx(lesion["voxel_volume_mm3"], rel=0.05)
    assert n >= 10


def test_pet_job_writes_sites_axes_and_uptake(cohort: Path, tmp_path: Path) -> None:
    """The job entry point on one synthetic PET scan: contract columns in order, truth's sites and SUVmax."""
    folder, truth = next((f, t) for f, t in _scans(cohort) if len(t) >= 2)
    out = tmp_path / "lesions_pet.tsv"
    pet = sitk.ReadImage(str(folder / "pet.nii.gz"))
    pet_ct = sitk.Resample(pet, sitk.ReadImage(str(folder / "ct.nii.gz")), sitk.Transform(), sitk.sitkLinear)
    sitk.WriteImage(pet_ct, str(tmp_path / "pet_suv_ct.nii.gz"))
    extract_scan(tmp_path / "pet_suv_ct.nii.gz", folder / "lesions.nii.gz", REPO / "params" / "pet.yaml", "PT",
                 "P1", "baseline", out, seg=folder / "seg", pet=folder / "pet.nii.gz",
                 delineation=Delineation("relative"))
    table = read_tsv(out)
    assert list(table.columns[:16]) == [
        "patient_id", "timepoint", "modality", "lesion", "status", "reason", "site", "volume_ml", "centroid_x_mm",
        "centroid_y_mm", "centroid_z_mm", "long_axis_mm", "short_axis_mm", *UPTAKE_COLUMNS[:3]]
    assert table.columns[17] == "tlg" and table.columns[18].startswith("original_")
    assert table["site"].tolist() == [truth[str(k)]["site"] for k in table["lesion"]]
    assert table["suvmax"].tolist() == [truth[str(k)]["suvmax"] for k in table["lesion"]]
    assert (table["mtv_ml"] * 1000 <= table["volume_ml"] * 1000 + 1e-6).all()  # 41 % of SUVmax inside the lesion


def test_a_pet_lesion_job_runs_without_scipy(cohort: Path, tmp_path: Path) -> None:
    """The whole PET job (features, sites, axes, uptake, SUVpeak) in a fresh interpreter never imports scipy (a
    quarter second of each job, issue 16; wbrad.labelmap), and writes the table an interpreter with scipy writes."""
    folder, _ = next((f, t) for f, t in _scans(cohort) if len(t) >= 2)
    pet = sitk.ReadImage(str(folder / "pet.nii.gz"))
    image = tmp_path / "pet_suv_ct.nii.gz"
    sitk.WriteImage(sitk.Resample(pet, sitk.ReadImage(str(folder / "ct.nii.gz")), sitk.Transform(), sitk.sitkLinear),
                    str(image))
    job = (f"extract_scan({str(image)!r}, {str(folder / 'lesions.nii.gz')!r}, {str(REPO / 'params/pet.yaml')!r}, "
           f"'PT', 'P1', 'baseline', OUT, seg={str(folder / 'seg')!r}, pet={str(folder / 'pet.nii.gz')!r})")
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'src')!r}); from wbrad.lesions.run import extract_scan; "
            f"{job.replace('OUT', repr(str(tmp_path / 'fresh.tsv')))}; print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "False"
    extract_scan(image, folder / "lesions.nii.gz", REPO / "params/pet.yaml", "PT", "P1", "baseline",
                 tmp_path / "here.tsv", seg=folder / "seg", pet=folder / "pet.nii.gz")
    assert "scipy" in sys.modules  # this interpreter has it (the synthetic cohort needs it)
    assert (tmp_path / "fresh.tsv").read_bytes() == (tmp_path / "here.tsv").read_bytes()
    assert read_tsv(tmp_path / "fresh.tsv")["suvpeak"].notna().sum() >= 2
