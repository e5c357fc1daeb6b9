"""Slice geometry as scanners write it: uneven bed junctions, missing slices, overlapping beds (wbrad.convert.dicom).

Every series is real DICOM written by the synthetic writer (pydicom) and converted by the real conversion code.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tests.conftest import SHARED_DATA
from wbrad.convert.run import convert_ct, convert_pet
from wbrad.synth.dicom import BedLayout, Identity, Study, write_ct_series, write_pet_series, write_rtstruct

STS = SHARED_DATA / "petct_sts002_mirp" / "STS_002"
SPACING, ORIGIN = (4.0, 4.0, 4.0), (-10.0, -8.0, 0.0)
STUDY = Study.new(Identity("H7", "Roe^Max", "19551231", "M", 81.3, 1.8), dt.date(2023, 5, 6))


def array(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def pet_round_trip(tmp_path: Path, suv: np.ndarray, layout: BedLayout, **kwargs) -> tuple[np.ndarray, dict]:
    """Write ``suv`` as a DICOM PET in ``layout``, convert it; return the SUV array and the provenance."""
    folder = tmp_path / "pet"
    if not folder.exists():
        write_pet_series(suv, SPACING, ORIGIN, folder, STUDY, layout=layout, **kwargs)
    ct = sitk.GetImageFromArray(np.zeros((2, 2, 2), np.int16))
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    convert_pet(folder, tmp_path / "ct.nii.gz", tmp_path / "suv.nii.gz", tmp_path / "suv_ct.nii.gz",
                tmp_path / "prov.json", "P9", "baseline")
    return array(tmp_path / "suv.nii.gz"), json.loads((tmp_path / "prov.json").read_text())


def files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def test_three_percent_junction_converts_and_records_the_deviation(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    suv = np.random.default_rng(0).uniform(0.5, 8.0, (30, 6, 5)).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="wbrad"):
        back, prov = pet_round_trip(tmp_path, suv, BedLayout(bed_mm=60.0, gaps=(0.03,)))
    geometry = prov["slice_geometry"]
    assert geometry["max_gap_deviation"] == pytest.approx(0.03, abs=1e-6)
    assert geometry["max_gap_deviation_mm"] == pytest.approx(0.12, abs=1e-6)
    assert geometry["max_gap_deviation_at_mm"] == pytest.approx(56.0)  # bed 1 ends with slice 14 at 56 mm
    assert geometry["resampled"] and geometry["beds"] == 2 and geometry["grid_slices"] == 30
    assert prov["outputs"]["pet_suv"]["size"] == [5, 6, 30]
    assert prov["outputs"]["pet_suv"]["spacing"] == pytest.approx([4, 4, 4], abs=1e-9)
    # pre-compensated slices: resampling gives back the image, up to the int16 storage (slope max / 32767)
    np.testing.assert_allclose(back, suv, atol=2 * 8.0 / 32767)
    assert "largest gap deviation +0.120 mm (3.00 %) above 56.000 mm" in caplog.text and "resampled" in caplog.text


@pytest.mark.parametrize(("removed", "below", "above", "missing"), [
    (20, 76.12, 84.12, 80.12),  # within bed 2
    (14, 52.0, 60.12, 56.0),  # the last slice below the 3 % junction: a gap of 2 spacings + 3 %
])
def test_missing_slice_names_the_position_and_the_two_files(tmp_path: Path, removed: int, below: float,
                                                            above: float, missing: float) -> None:
    write_pet_series(np.ones((30, 6, 5), np.float32), SPACING, ORIGIN, tmp_path / "pet", STUDY,
                     layout=BedLayout(bed_mm=60.0, gaps=(0.03,)))
    files(tmp_path / "pet")[removed].unlink()
    gap = above - below
    with pytest.raises(ValueError, match=rf"P9 baseline .*pet: PT series 'PET WB AC' \(number 3\): 1 missing "
                                         rf"slice\(s\): gap of {gap:.3f} mm between slices at {below:.3f} and "
                                         rf"{above:.3f} mm \(files PT{removed:04d}\.dcm, PT{removed + 2:04d}\.dcm\) "
                                         rf"where the spacing is 4\.000 mm; missing position\(s\) \[{missing}\] mm"):
        pet_round_trip(tmp_path, np.ones(0), BedLayout())


def test_overlapping_beds_keep_the_slices_nearer_their_bed_centre(tmp_path: Path) -> None:
    """Beds of slices 0-14 (0..56 mm) and 11-29 (44.12..116.12 mm, 3 % junction): the centres (28 and 80.12 mm)
    split the overlap at 54.06 mm; bed 1 keeps 0..52 mm, bed 2 its slices above 52.4 mm (52 mm + 10 % of the
    spacing): 56.12 mm on."""
    layout = BedLayout(bed_mm=60.0, overlap=4, gaps=(0.03,))
    write_pet_series(np.ones((30, 6, 5), np.float32), SPACING, ORIGIN, tmp_path / "pet", STUDY, layout=layout)
    for path in files(tmp_path / "pet"):  # bed 2 reads twice the SUV, to see which slices were taken
        ds = pydicom.dcmread(path)
        if ds.FrameReferenceTime != 0:
            ds.RescaleSlope = f"{2 * float(ds.RescaleSlope):.10g}"
            ds.save_as(path)
    assert len(files(tmp_path / "pet")) == 34
    back, prov = pet_round_trip(tmp_path, np.ones(0), layout)
    grid = prov["outputs"]["pet_suv"]
    assert grid["size"] == [5, 6, 30] and grid["origin"] == [-10, -8, 0]
    assert grid["spacing"] == pytest.approx([4, 4, 4], abs=1e-9)
    assert prov["slice_geometry"]["dropped_slices_mm"] == [44.12, 48.12, 52.12, 56.0]
    # grid 0..13 (0..52 mm): bed 1; 56 mm: between 52 (bed 1) and 56.12 (bed 2); 60 mm on: bed 2
    expected = np.r_[np.ones(14), 1 + 4 / 4.12, np.full(15, 2.0)]
    np.testing.assert_allclose(back.mean(axis=(1, 2)), expected, rtol=1e-5)


def test_overlap_without_bed_headers_is_an_error(tmp_path: Path) -> None:
    write_pet_series(np.ones((30, 6, 5), np.float32), SPACING, ORIGIN, tmp_path / "pet", STUDY,
                     layout=BedLayout(bed_mm=60.0, overlap=4, gaps=(0.03,), timed=False))
    with pytest.raises(ValueError, match=r"uneven slice spacing: gap of 0\.120 mm between slices at 44\.000 and "
                                         r"44\.120 mm .*no header \(AcquisitionNumber, .*\) assigns to different "
                                         r"beds"):
        pet_round_trip(tmp_path, np.ones(0), BedLayout())


def test_uniform_region_keeps_its_suv_and_a_linear_ramp_is_exact(tmp_path: Path) -> None:
    """Slices sample the image at their shifted positions (as a scanner does); linear resampling keeps a uniform
    region and reproduces an image linear along z."""
    z = np.arange(40)[:, None, None]
    suv = np.broadcast_to(1.0 + 0.05 * z, (40, 8, 6)).astype(np.float32).copy()
    suv[10:30, 2:6, 1:5] = 3.0  # uniform across both junctions (48 -> 52.096 mm, 104.096 -> 107.92 mm)
    suv[5, 1, 1] = 9.0
    back, prov = pet_round_trip(tmp_path, suv, BedLayout(bed_mm=56.0, gaps=(0.024, -0.044)), precompensate=False)
    assert prov["slice_geometry"]["max_gap_deviation"] == pytest.approx(-0.044, abs=1e-6)
    region = back[11:29, 2:6, 1:5]
    np.testing.assert_allclose(region, 3.0, rtol=1e-3)
    ramp = np.ones(suv.shape, bool)
    ramp[9:31, 2:6, 1:5] = ramp[4:7, 1, 1] = False
    np.testing.assert_allclose(back[ramp], suv[ramp], rtol=1e-3)


def test_gap_beyond_the_tolerance_is_an_error_unless_configured(tmp_path: Path) -> None:
    write_pet_series(np.ones((30, 6, 5), np.float32), SPACING, ORIGIN, tmp_path / "pet", STUDY,
                     layout=BedLayout(bed_mm=60.0, gaps=(0.12,)), precompensate=False)
    with pytest.raises(ValueError, match=r"uneven slice spacing: gap of 4\.480 mm .* \(files PT0015\.dcm, "
                                         r"PT0016\.dcm\) .* \(beyond convert\.slice_gap_tolerance 0\.1 of the "
                                         r"spacing\)"):
        pet_round_trip(tmp_path, np.ones(0), BedLayout())
    convert_pet(tmp_path / "pet", tmp_path / "ct.nii.gz", tmp_path / "a.nii.gz", tmp_path / "b.nii.gz",
                tmp_path / "p.json", "P9", "baseline", slice_gap_tolerance=0.15)
    geometry = json.loads((tmp_path / "p.json").read_text())["slice_geometry"]
    assert geometry["tolerance"] == 0.15 and geometry["max_gap_deviation"] == pytest.approx(0.12, abs=1e-6)
    np.testing.assert_allclose(array(tmp_path / "a.nii.gz"), 1.0, rtol=1e-5)


def test_ct_junction_beyond_the_contour_tolerance_keeps_the_lesions(tmp_path: Path) -> None:
    """An 8 % junction moves the upper contours further off the regular grid than a contour may lie from a slice
    (5 %): they are rasterised on the slices they were drawn on, then follow the CT onto its grid."""
    spacing, origin = (1.0, 1.0, 2.5), (-10.0, -8.0, 30.0)
    hu = np.random.default_rng(1).integers(-200, 300, (12, 20, 24)).astype(np.int16)
    labels = np.zeros(hu.shape, np.uint16)
    labels[2:5, 3:9, 4:12] = 1
    labels[7:11, 10:16, 8:20] = 2
    layout = BedLayout(bed_mm=15.0, gaps=(0.08,), timed=False)
    uid = write_ct_series(hu, spacing, origin, tmp_path / "ct", STUDY, layout=layout)
    slice_z = [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in files(tmp_path / "ct")]
    assert slice_z[6] - slice_z[5] == pytest.approx(2.7)
    write_rtstruct(labels, spacing, origin, tmp_path / "rs.dcm", STUDY, uid, slice_z=np.array(slice_z))
    convert_ct(tmp_path / "ct", tmp_path / "rs.dcm", tmp_path / "ct.nii.gz", tmp_path / "les.nii.gz",
               tmp_path / "prov.json", "P9", "baseline")
    np.testing.assert_array_equal(array(tmp_path / "les.nii.gz"), labels)
    np.testing.assert_array_equal(array(tmp_path / "ct.nii.gz"), hu)  # pre-compensated slices
    prov = json.loads((tmp_path / "prov.json").read_text())
    assert prov["slice_geometry"]["max_gap_deviation_mm"] == pytest.approx(0.2, abs=1e-6)
    assert prov["slice_geometry"]["resampled"] and prov["outputs"]["ct"]["origin"] == [-10, -8, 30]


@pytest.mark.skipif(not STS.is_dir(), reason=f"reference data absent: {STS}")
def test_real_pet_converts_with_zero_deviation_recorded(tmp_path: Path) -> None:
    convert_pet(STS / "PET/dicom/image", STS / "CT/nifti/image/image.nii.gz", tmp_path / "suv.nii.gz",
                tmp_path / "suv_ct.nii.gz", tmp_path / "prov.json", "STS002", "baseline")
    geometry = json.loads((tmp_path / "prov.json").read_text())["slice_geometry"]
    assert geometry == {"spacing_mm": 3.27, "slices": 48, "max_gap_deviation_mm": 0.0, "max_gap_deviation": 0.0,
                        "max_gap_deviation_at_mm": None, "tolerance": 0.1, "beds": 1, "dropped_slices_mm": [],
                        "resampled": False, "interpolation": None, "grid_slices": 48}
