"""Tests of wbrad.convert.dicom and DICOM conversion on real reference series (MIRP STS_002, TotalSegmentator)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tests.conftest import SHARED_DATA
from wbrad.convert.dicom import read_dicom_series
from wbrad.convert.run import convert_ct, convert_pet
from wbrad.image import canonicalise
from wbrad.synth.dicom import write_ct_series

STS = SHARED_DATA / "petct_sts002_mirp" / "STS_002"
TOTALSEG = SHARED_DATA / "totalsegmentator_refs" / "reference_files"
needs_sts = pytest.mark.skipif(not STS.is_dir(), reason=f"reference data absent: {STS}")


def array(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@pytest.fixture(scope="module")
def sts_converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """STS_002 converted from DICOM: CT with its RTSTRUCT, PET (Units GML) with its own RTSTRUCT on its grid."""
    out = tmp_path_factory.mktemp("sts")
    convert_ct(STS / "CT/dicom/image", STS / "CT/dicom/mask", out / "ct.nii.gz", out / "lesions.nii.gz",
               out / "provenance.json", "STS002", "baseline", roi_pattern="^GTV_Mass_CT$")
    convert_pet(STS / "PET/dicom/image", out / "ct.nii.gz", out / "pet_suv.nii.gz", out / "pet_suv_ct.nii.gz",
                out / "provenance_pet.json", "STS002", "baseline")
    convert_ct(STS / "PET/dicom/image", STS / "PET/dicom/mask", out / "pet_grid.nii.gz", out / "pet_mask.nii.gz",
               out / "provenance_pet_mask.json", "STS002", "baseline", roi_pattern="^GTV_Mass_PET$")
    return out


@needs_sts
def test_sts_ct_converts_exactly(sts_converted: Path) -> None:
    ct = sitk.ReadImage(str(sts_converted / "ct.nii.gz"))
    ref = sitk.ReadImage(str(STS / "CT/nifti/image/image.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(ct.GetOrigin(), ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(ct.GetSpacing(), ref.GetSpacing(), atol=1e-6)


@needs_sts
def test_sts_pet_gml_is_suv_within_1e5(sts_converted: Path) -> None:
    pet, ref = array(sts_converted / "pet_suv.nii.gz"), array(STS / "PET/nifti/image/image.nii.gz")
    np.testing.assert_allclose(pet, ref, rtol=1e-5, atol=1e-6)
    assert pet.max() == pytest.approx(21.676, abs=1e-3)  # GTV SUVmax of the reference (data README)
    suv = json.loads((sts_converted / "provenance_pet.json").read_text())["suv"]
    assert suv["factor"] == 1.0 and suv["inputs"]["Units"] == {"value": "GML", "source": "dicom"}


@needs_sts
@pytest.mark.parametrize(("mask", "reference", "voxels"), [("lesions.nii.gz", "CT", 17090),
                                                            ("pet_mask.nii.gz", "PET", 555)])
def test_sts_rtstruct_rasterises_to_reference_mask(sts_converted: Path, mask: str, reference: str,
                                                   voxels: int) -> None:
    ours, ref = array(sts_converted / mask) > 0, array(STS / reference / "nifti/mask/mask.nii.gz") > 0
    dice = 2 * (ours & ref).sum() / (ours.sum() + ref.sum())
    assert dice == 1.0 and ours.sum() == voxels


@needs_sts
def test_sts_provenance_names_roi(sts_converted: Path) -> None:
    lesions = json.loads((sts_converted / "provenance.json").read_text())["outputs"]["lesions"]
    assert lesions["rois"] == {"1": "GTV_Mass_CT"} and lesions["n_lesions"] == 1


@pytest.mark.skipif(not TOTALSEG.is_dir(), reason=f"reference data absent: {TOTALSEG}")
def test_jpeg2000_series_has_the_reference_segmentation_geometry() -> None:
    ct = canonicalise(read_dicom_series(TOTALSEG / "example_ct_dicom", "TS example"))
    seg = canonicalise(sitk.ReadImage(str(TOTALSEG / "example_seg_dicom.nii.gz")))
    assert ct.GetSize() == seg.GetSize() == (512, 512, 20)
    for what in ("Origin", "Spacing", "Direction"):
        np.testing.assert_allclose(getattr(ct, f"Get{what}")(), getattr(seg, f"Get{what}")(), atol=1e-4)


def series(tmp_path: Path, **kwargs) -> Path:
    arr = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    folder = tmp_path / "ct"
    write_ct_series(arr, (0.8, 0.9, 2.5), (-10.0, 20.0, 30.0), folder, patient_id="X", **kwargs)
    return folder


def edit(folder: Path, index: int, **tags) -> None:
    path = sorted(folder.iterdir())[index]
    ds = pydicom.dcmread(path)
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.save_as(path)


def test_missing_slice_is_named(tmp_path: Path) -> None:
    folder = series(tmp_path)
    sorted(folder.iterdir())[2].unlink()
    with pytest.raises(ValueError, match=r"P1 fu1: CT series .*: 1 missing slice\(s\): gap of 5\.000 mm between "
                                         r"slices at 32\.500 and 37\.500 mm"):
        read_dicom_series(folder, "P1 fu1")


def test_gantry_tilt_is_an_error(tmp_path: Path) -> None:
    folder = series(tmp_path)
    edit(folder, 1, GantryDetectorTilt=15)
    with pytest.raises(ValueError, match=r"gantry tilt \[0\.0, 15\.0\] degrees \(GantryDetectorTilt \(0018,1120\)\)"):
        read_dicom_series(folder, "P1 fu1")


def test_mixed_orientation_is_an_error(tmp_path: Path) -> None:
    folder = series(tmp_path)
    edit(folder, 3, ImageOrientationPatient=[1, 0, 0, 0, 0, -1])
    with pytest.raises(ValueError, match=r"P1 fu1: mixed ImageOrientationPatient \(0020,0037\)"):
        read_dicom_series(folder, "P1 fu1")


def test_sheared_positions_are_an_error(tmp_path: Path) -> None:
    folder = series(tmp_path)
    edit(folder, 4, ImagePositionPatient=[-5.0, 20.0, 40.0])
    with pytest.raises(ValueError, match=r"move within the image plane by up to 5\.00 mm"):
        read_dicom_series(folder, "P1 fu1")
