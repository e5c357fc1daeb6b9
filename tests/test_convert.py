"""Tests of wbrad.convert: reading, canonicalisation, validation, lesion maps, PET resampling, provenance."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from wbrad.convert.dicom import read_dicom_series
from wbrad.convert.run import convert_ct, convert_pet
from wbrad.image import read_canonical

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DICOM_REF = DATA / "totalsegmentator_refs" / "reference_files" / "example_ct_dicom"


def make_image(arr: np.ndarray, spacing=(0.8, 0.9, 2.5), origin=(-10.0, 20.0, 30.0)) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


def ct_array(shape=(6, 7, 8)) -> np.ndarray:
    """A CT-like int16 array with distinct values so any axis permutation or flip shows."""
    return (np.arange(np.prod(shape)).reshape(shape) * 7 - 1000).astype(np.int16)


def write_dicom_series(arr: np.ndarray, folder: Path, spacing=(0.8, 0.9, 2.5), origin=(-10.0, 20.0, 30.0)) -> None:
    """Write one int16 CT slice per file with position/orientation tags (SimpleITK DicomSeriesFromArray)."""
    folder.mkdir()
    img = make_image(arr, spacing, origin)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series = "1.2.826.0.1.3680043.2.1125.1.99"
    for k in range(img.GetDepth()):
        sl = img[:, :, k]
        for tag, value in {"0008|0060": "CT", "0020|000e": series, "0020|000d": series + ".1",
                           "0020|0037": "1\\0\\0\\0\\1\\0", "0028|1052": "0", "0028|1053": "1",
                           "0020|0032": "\\".join(map(str, img.TransformIndexToPhysicalPoint((0, 0, k)))),
                           "0020|0013": str(k + 1), "0008|0018": f"{series}.2.{k}"}.items():
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{k:03d}.dcm"))
        writer.Execute(sl)


def test_nifti_round_trip(tmp_path: Path) -> None:
    arr = ct_array()
    sitk.WriteImage(make_image(arr), str(tmp_path / "in.nii.gz"))
    out = tmp_path / "out"
    convert_ct(tmp_path / "in.nii.gz", None, out / "ct.nii.gz", out / "lesions.nii.gz", out / "prov.json", "P001",
               "baseline")
    ct = sitk.ReadImage(str(out / "ct.nii.gz"))
    assert ct.GetPixelID() == sitk.sitkInt16
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ct), arr)
    assert np.allclose(ct.GetSpacing(), (0.8, 0.9, 2.5)) and np.allclose(ct.GetOrigin(), (-10, 20, 30))
    lesions = sitk.ReadImage(str(out / "lesions.nii.gz"))
    assert lesions.GetPixelID() == sitk.sitkUInt16 and not sitk.GetArrayViewFromImage(lesions).any()
    prov = json.loads((out / "prov.json").read_text())
    assert prov["outputs"]["ct"]["size"] == [8, 7, 6]
    assert prov["inputs"]["image"]["path"] == str(tmp_path / "in.nii.gz")
    assert prov["inputs"]["image"]["sha256"] == hashlib.sha256((tmp_path / "in.nii.gz").read_bytes()).hexdigest()
    assert sorted(prov["software"]) == ["SimpleITK", "pydicom", "wbrad"]
    assert not list(out.glob(".*")), "temporary files left behind"


def test_float_ct_is_rounded_and_range_checked(tmp_path: Path) -> None:
    sitk.WriteImage(make_image(np.full((3, 4, 5), 10.6, np.float32)), str(tmp_path / "f.nii.gz"))
    sitk.WriteImage(make_image(np.full((3, 4, 5), 40000, np.float32)), str(tmp_path / "big.nii.gz"))
    out = tmp_path / "out"
    convert_ct(tmp_path / "f.nii.gz", None, out / "ct.nii.gz", out / "l.nii.gz", out / "p.json", "P1", "baseline")
    assert (sitk.GetArrayFromImage(sitk.ReadImage(str(out / "ct.nii.gz"))) == 11).all()
    with pytest.raises(ValueError, match=r"P1 baseline .*big\.nii\.gz.*outside the int16 range"):
        convert_ct(tmp_path / "big.nii.gz", None, out / "ct.nii.gz", out / "l.nii.gz", out / "p.json", "P1", "baseline")


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha"])
def test_non_finite_values_error(tmp_path: Path, suffix: str) -> None:
    """ITK reads NaN/inf in NIfTI as 0, so this also checks they are caught before that."""
    arr = np.zeros((3, 4, 5), np.float32)
    arr[1, 2, 3] = np.nan
    arr[0, 0, 0] = np.inf
    path = tmp_path / f"nan{suffix}"
    sitk.WriteImage(make_image(arr), str(path))
    with pytest.raises(ValueError, match=rf"nan{suffix.replace('.', '[.]')}: 2 non-finite"):
        read_canonical(path, str(path))


def test_ras_image_canonicalises_to_lps(tmp_path: Path) -> None:
    """A RAS-affine NIfTI written by nibabel: its array flipped in x and y (nibabel indexes [x, y, z])."""
    data = ct_array((8, 7, 6))  # nibabel order [i, j, k]
    affine = np.diag([2.0, 3.0, 4.0, 1.0])  # RAS+ world: i grows to the patient's Right, j to Anterior
    affine[:3, 3] = (5.0, 6.0, 7.0)
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "ras.nii.gz")
    img = read_canonical(tmp_path / "ras.nii.gz", "ras")
    assert img.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1)
    # RAS+ i grows to the Right and j to the Anterior: in LPS both axes are reversed, k (Superior) is kept.
    expected = np.transpose(data[::-1, ::-1, :], (2, 1, 0))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), expected)
    # the first LPS voxel is the RAS voxel (7, 6, 0): world RAS (19, 24, 7) -> LPS (-19, -24, 7)
    assert np.allclose(img.GetOrigin(), (-19.0, -24.0, 7.0))
    assert np.allclose(img.GetSpacing(), (2.0, 3.0, 4.0))


def test_lps_image_is_canonical_as_read_and_written_as_dicomorient_writes_it(tmp_path: Path) -> None:
    """An image already in the identity direction skips DICOMOrient's voxel copy; what comes back is DICOMOrient's
    result all the same: voxels, grid, no metadata from the file (nibabel's header fields), the same bytes written."""
    affine = np.diag([-2.0, -3.0, 4.0, 1.0])  # RAS+ with x and y reversed: the LPS identity direction
    affine[:3, 3] = (5.0, 6.0, 7.0)
    image = nib.Nifti1Image(ct_array((8, 7, 6)), affine)
    image.header["descrip"] = b"scanner header text"
    image.header.set_sform(affine, code=2)
    nib.save(image, tmp_path / "lps.nii.gz")
    stored = sitk.ReadImage(str(tmp_path / "lps.nii.gz"))
    assert stored.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1) and stored.HasMetaDataKey("descrip")
    oriented, img = sitk.DICOMOrient(stored, "LPS"), read_canonical(tmp_path / "lps.nii.gz", "lps")
    assert img.GetMetaDataKeys() == oriented.GetMetaDataKeys() == ()
    assert (img.GetOrigin(), img.GetSpacing(), img.GetDirection()) == (
        oriented.GetOrigin(), oriented.GetSpacing(), oriented.GetDirection())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), sitk.GetArrayFromImage(oriented))
    for name, written in (("ours", img), ("dicomorient", oriented)):
        sitk.WriteImage(written, str(tmp_path / f"{name}.nii"))
    assert (tmp_path / "ours.nii").read_bytes() == (tmp_path / "dicomorient.nii").read_bytes()


def test_lesions_on_other_geometry_error_names_file(tmp_path: Path) -> None:
    arr = ct_array()
    sitk.WriteImage(make_image(arr), str(tmp_path / "ct_in.nii.gz"))
    sitk.WriteImage(make_image(np.zeros(arr.shape, np.uint8), spacing=(1, 1, 1)), str(tmp_path / "les_bad.nii.gz"))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"P002 fu1 .*les_bad\.nii\.gz is not on the geometry of .*ct_in\.nii\.gz: "
                                         r"spacing"):
        convert_ct(tmp_path / "ct_in.nii.gz", tmp_path / "les_bad.nii.gz", out / "ct.nii.gz", out / "l.nii.gz",
                   out / "p.json", "P002", "fu1")
    assert not (out / "ct.nii.gz").exists(), "nothing is written when the lesion map is rejected"


def test_non_integer_lesions_error(tmp_path: Path) -> None:
    arr = ct_array()
    sitk.WriteImage(make_image(arr), str(tmp_path / "ct_in.nii.gz"))
    labels = np.zeros(arr.shape, np.float32)
    labels[2, 3, 4] = 1.5
    sitk.WriteImage(make_image(labels), str(tmp_path / "les.nii.gz"))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"les\.nii\.gz: label map must hold integers"):
        convert_ct(tmp_path / "ct_in.nii.gz", tmp_path / "les.nii.gz", out / "ct.nii.gz", out / "l.nii.gz",
                   out / "p.json", "P1", "baseline")


def test_lesions_written_as_uint16(tmp_path: Path) -> None:
    arr = ct_array()
    sitk.WriteImage(make_image(arr), str(tmp_path / "ct_in.nii.gz"))
    labels = np.zeros(arr.shape, np.float32)  # integral values in a float file are accepted
    labels[1:3, 2:4, 2:5] = 3
    labels[4, 5, 6] = 300
    sitk.WriteImage(make_image(labels), str(tmp_path / "les.nii.gz"))
    out = tmp_path / "out"
    convert_ct(tmp_path / "ct_in.nii.gz", tmp_path / "les.nii.gz", out / "ct.nii.gz", out / "l.nii.gz",
               out / "p.json", "P1", "baseline")
    les = sitk.ReadImage(str(out / "l.nii.gz"))
    assert les.GetPixelID() == sitk.sitkUInt16
    np.testing.assert_array_equal(sitk.GetArrayFromImage(les), labels.astype(np.uint16))
    assert json.loads((out / "p.json").read_text())["outputs"]["lesions"]["n_lesions"] == 2


def test_dicom_series_round_trip(tmp_path: Path) -> None:
    arr = ct_array((5, 6, 7))
    write_dicom_series(arr, tmp_path / "series")
    img = read_dicom_series(tmp_path / "series")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), arr)
    assert np.allclose(img.GetSpacing(), (0.8, 0.9, 2.5), atol=1e-4)
    assert np.allclose(img.GetOrigin(), (-10, 20, 30), atol=1e-4)
    out = tmp_path / "out"
    convert_ct(tmp_path / "series", None, out / "ct.nii.gz", out / "l.nii.gz", out / "p.json", "P1", "baseline")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(out / "ct.nii.gz"))), arr)
    prov = json.loads((out / "p.json").read_text())
    assert len(prov["inputs"]["image"]["sha256"]) == 64


def test_dicom_folder_with_two_series_errors(tmp_path: Path) -> None:
    write_dicom_series(ct_array((3, 4, 5)), tmp_path / "a")
    folder = tmp_path / "a"
    img = make_image(ct_array((1, 4, 5)))[:, :, 0]
    for tag, value in {"0020|000e": "1.2.3.4.5", "0008|0060": "CT", "0008|0018": "1.2.3.4.5.6"}.items():
        img.SetMetaData(tag, value)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(folder / "other.dcm"))
    writer.Execute(img)
    with pytest.raises(ValueError, match=r"holds 2 DICOM series.*1\.2\.3\.4\.5"):
        read_dicom_series(folder)


def test_real_jpeg2000_dicom_series() -> None:
    if not DICOM_REF.is_dir():
        pytest.skip(f"reference data not found: {DICOM_REF}")
    img = read_canonical(DICOM_REF, str(DICOM_REF))
    assert img.GetSize() == (512, 512, 20)
    assert np.allclose(img.GetSpacing(), (0.9765625, 0.9765625, 2.0))
    arr = sitk.GetArrayViewFromImage(img)
    assert arr.min() == -1024  # uint16 0 with the series' rescale intercept -1024


def test_pet_resampling_preserves_constant_field(tmp_path: Path) -> None:
    ct = make_image(ct_array((10, 12, 14)), spacing=(1.5, 1.5, 2.0), origin=(0, 0, 0))
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    # PET on a coarser, shifted grid that covers the CT, plus one CT corner outside the PET
    pet = make_image(np.full((8, 8, 8), 3.25, np.float32), spacing=(4.0, 4.0, 4.0), origin=(-3.0, -3.0, -3.0))
    sitk.WriteImage(pet, str(tmp_path / "pet.nii.gz"))
    out = tmp_path / "out"
    convert_pet(tmp_path / "pet.nii.gz", tmp_path / "ct.nii.gz", out / "pet_suv.nii.gz", out / "pet_suv_ct.nii.gz",
                out / "prov.json", "P1", "baseline")
    on_ct = sitk.ReadImage(str(out / "pet_suv_ct.nii.gz"))
    assert on_ct.GetSize() == ct.GetSize() and on_ct.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(on_ct), 3.25)
    own = sitk.ReadImage(str(out / "pet_suv.nii.gz"))
    assert own.GetSize() == (8, 8, 8) and own.GetPixelID() == sitk.sitkFloat32
    prov = json.loads((out / "prov.json").read_text())
    assert prov["suv"] == {"units": "already SUV (NIfTI input)", "factor": 1.0}


def test_pet_outside_is_zero(tmp_path: Path) -> None:
    ct = make_image(np.zeros((4, 4, 20), np.int16), spacing=(1.0, 1.0, 1.0), origin=(0, 0, 0))
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    pet = make_image(np.full((4, 4, 10), 2.0, np.float32), spacing=(1.0, 1.0, 1.0), origin=(0, 0, 0))
    sitk.WriteImage(pet, str(tmp_path / "pet.nii.gz"))
    out = tmp_path / "out"
    convert_pet(tmp_path / "pet.nii.gz", tmp_path / "ct.nii.gz", out / "a.nii.gz", out / "b.nii.gz", out / "p.json",
                "P1", "baseline")
    on_ct = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "b.nii.gz")))
    np.testing.assert_array_equal(on_ct[:, :, :10], 2.0)
    np.testing.assert_array_equal(on_ct[:, :, 11:], 0.0)


def test_dicom_pet_without_units_fails_naming_the_tag(tmp_path: Path) -> None:
    write_dicom_series(ct_array((3, 4, 5)), tmp_path / "pet")
    sitk.WriteImage(make_image(ct_array((3, 4, 5))), str(tmp_path / "ct.nii.gz"))
    with pytest.raises(ValueError, match=r"P1 fu1 .*pet: CT series '' \(number \?\): Units \(0054,1001\) is missing"):
        convert_pet(tmp_path / "pet", tmp_path / "ct.nii.gz", tmp_path / "a.nii.gz", tmp_path / "b.nii.gz",
                    tmp_path / "p.json", "P1", "fu1")
