"""Tests of wbrad.synth.dicom: the synthetic DICOM export converts back to the synthetic images."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from wbrad.convert.run import convert_ct, convert_pet
from wbrad.synth.dicom import (
    BedLayout,
    Identity,
    Study,
    invent_identity,
    slice_plan,
    write_ct_series,
    write_pet_series,
    write_scan,
)

SPACING, ORIGIN = (4.0, 4.0, 4.0), (-20.0, -16.0, 0.0)


def test_pet_in_bqml_converts_back_to_suv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    suv = rng.uniform(0.2, 12.0, (5, 8, 10)).astype(np.float32)
    study = Study.new(Identity("H7", "Roe^Max", "19551231", "M", 81.3, 1.8), dt.date(2023, 5, 6))
    write_pet_series(suv, SPACING, ORIGIN, tmp_path / "pet", study, dose_bq=3.0e8)
    first = pydicom.dcmread(sorted((tmp_path / "pet").iterdir())[0])
    drug = first.RadiopharmaceuticalInformationSequence[0]
    assert (first.Units, first.DecayCorrection, first.Modality) == ("BQML", "START", "PT")
    assert (drug.RadiopharmaceuticalStartDateTime, first.SeriesTime) == ("20230506090000", "100000")
    ct = sitk.GetImageFromArray(np.zeros((5, 8, 10), np.int16))
    ct.SetSpacing(SPACING)
    ct.SetOrigin(ORIGIN)
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    convert_pet(tmp_path / "pet", tmp_path / "ct.nii.gz", tmp_path / "suv.nii.gz", tmp_path / "suv_ct.nii.gz",
                tmp_path / "prov.json", "P9", "baseline")
    back = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "suv.nii.gz")))
    np.testing.assert_allclose(back, suv, atol=12.0 / 32767)  # int16 storage with a per-slice slope
    factor = json.loads((tmp_path / "prov.json").read_text())["suv"]["factor"]
    assert factor == pytest.approx(81.3e3 / (3.0e8 * 2 ** (-3600 / 6586.2)), rel=1e-12)


def test_invented_identity_is_consistent_with_the_registry() -> None:
    who = invent_identity(np.random.default_rng(1), "F", 60.5, dt.date(2024, 3, 1), 65.0, None)
    age = (dt.date(2024, 3, 1) - dt.datetime.strptime(who.birth_date, "%Y%m%d").date()).days / 365.25
    assert 60.5 <= age < 61.6 and who.sex == "F" and who.weight_kg == 65.0 and who.height_m == 1.72
    assert who.patient_id.startswith("H") and "^" in who.name


def test_slice_plan_places_beds_overlaps_and_junctions() -> None:
    plan = slice_plan(30, 4.0, 10.0, BedLayout(bed_mm=60.0, overlap=4, gaps=(0.03,)))
    assert len(plan.z) == 34 and (np.diff(plan.z) >= 0).all()
    upper = plan.bed == 1
    assert plan.index[upper].tolist() == list(range(11, 30))
    np.testing.assert_allclose(plan.z[upper], 10.12 + 4.0 * np.arange(11, 30))
    np.testing.assert_allclose(plan.z[~upper], 10.0 + 4.0 * np.arange(15))


def test_default_export_has_uneven_junctions_and_converts_back(tmp_path: Path) -> None:
    """The export of `wbrad synth --dicom`: a 3-bed PET with 2.4 % and -1.5 % junctions and a CT whose middle third
    is 2 % off; conversion gives back the synthetic CT, lesions and SUV (pre-compensated slices)."""
    rng = np.random.default_rng(2)
    hu = np.rint(ndimage.gaussian_filter(rng.normal(0, 200, (50, 16, 20)), 1)).astype(np.int16)
    labels = np.zeros(hu.shape, np.uint16)
    labels[10:14, 4:9, 5:12], labels[28:36, 6:12, 8:16] = 1, 2
    suv = rng.uniform(0.3, 6.0, (50, 8, 10)).astype(np.float32)
    study = Study.new(Identity("H7", "Roe^Max", "19551231", "M", 81.3, 1.8), dt.date(2023, 5, 6))
    origin = (-30.4, -24.0, -100.0)
    paths = write_scan(tmp_path / "dicom", study, (hu, (3.2, 3.2, 8.0), origin), labels,
                       (suv, (6.4, 6.4, 8.0), (-28.8, -22.4, -100.0)))
    z = [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in sorted(paths["pet"].iterdir())]
    gaps = np.diff(z) / 8.0 - 1
    assert np.count_nonzero(np.abs(gaps) > 1e-6) == 2 and gaps.max() == pytest.approx(0.024)
    assert gaps.min() == pytest.approx(-0.015)
    out = tmp_path / "out"
    convert_ct(paths["ct"], paths["rtstruct"], out / "ct.nii.gz", out / "les.nii.gz", out / "prov.json", "P9",
               "baseline")
    convert_pet(paths["pet"], out / "ct.nii.gz", out / "suv.nii.gz", out / "suv_ct.nii.gz", out / "prov_pet.json",
                "P9", "baseline")
    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "ct.nii.gz")))
    assert np.abs(ct.astype(int) - hu).max() <= 1 and np.count_nonzero(ct != hu) <= 2  # rounding ties at most
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(out / "les.nii.gz"))), labels)
    back = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "suv.nii.gz")))
    np.testing.assert_allclose(back, suv, atol=2 * 6.0 / 32767)
    geometry = {name: json.loads((out / name).read_text())["slice_geometry"] for name in ("prov.json",
                                                                                          "prov_pet.json")}
    assert abs(geometry["prov.json"]["max_gap_deviation"]) == pytest.approx(0.02, abs=1e-6)
    assert geometry["prov.json"]["resampled"] and geometry["prov.json"]["grid_slices"] == 50
    assert geometry["prov_pet.json"]["beds"] == 3 and geometry["prov_pet.json"]["resampled"]


def test_ct_series_names_its_scanner(tmp_path: Path) -> None:
    hu = np.zeros((3, 4, 5), np.int16)
    write_ct_series(hu, SPACING, ORIGIN, tmp_path / "default")
    scanner = {"Manufacturer": "GE MEDICAL SYSTEMS", "ManufacturerModelName": "Discovery CT750 HD",
               "ConvolutionKernel": "SOFT", "SeriesDescription": "CT WB SOFT"}
    write_ct_series(hu, SPACING, ORIGIN, tmp_path / "ge", scanner=scanner)
    default, ge = (pydicom.dcmread(sorted((tmp_path / name).iterdir())[0]) for name in ("default", "ge"))
    assert (default.Manufacturer, default.ConvolutionKernel, default.SeriesDescription) == (
        "wbrad synthetic", "B30f", "CT WB 3.0 B30f")
    assert (ge.Manufacturer, ge.ManufacturerModelName, ge.ConvolutionKernel, ge.SeriesDescription) == (
        "GE MEDICAL SYSTEMS", "Discovery CT750 HD", "SOFT", "CT WB SOFT")
    assert ge.KVP == "120" and scanner["SeriesDescription"] == "CT WB SOFT"  # the defaults kept, the argument too
