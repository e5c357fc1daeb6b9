"""Tests of wbrad.synth.dicom: the synthetic DICOM export converts back to the synthetic images."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from wbrad.convert.run import convert_pet
from wbrad.synth.dicom import Identity, Study, invent_identity, write_pet_series

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
