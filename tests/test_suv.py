"""Tests of wbrad.convert.suv: QIBA SUV factors on real vendor headers, LBM/BSA variants, clear errors."""

from __future__ import annotations

import json

import pytest
from pydicom.dataset import Dataset

from tests.conftest import SHARED_DATA
from wbrad.convert.suv import SuvError, instance_metadata, lean_body_mass_kg, suv_factors

CASES = SHARED_DATA / "pet_suv_factors_calculate_suv" / "metadata"
EXPECTED = {  # calculate-suv's expected SUVbw factors (README of the reference data)
    "SIEMENS": 0.00042748316187197236,
    "GE_MEDICAL_AND_BQML": 0.0005367387681819742,
    "PHILIPS_BQML": 0.0007463747013889488,
    "BQML_AC_DT_lessThan_S_DT_SIEMENS": 0.0004069156854009332,
    "CPS_AND_BQML_AC_DT_-_S_DT": 0.00026503312764157046,
    "RADIOPHARM_DATETIME_UNDEFINED": 0.0003721089202818729,
    "PHILIPS_CNTS_AND_BQML_SUV": 0.000551,
    "PHILIPS_CNTS_AND_SUV": 0.000728,
}


def synthetic(**changes) -> list[dict]:
    """calculate-suv's synthetic case: 75 kg, 1.85 m, male, 100 Bq, decay time 0."""
    inst = {"Units": "BQML", "DecayCorrection": "START", "CorrectedImage": ["ATTN", "DECY"], "PatientWeight": 75,
            "PatientSize": 1.85, "PatientSex": "M", "RadionuclideTotalDose": 100, "RadionuclideHalfLife": 6588,
            "SeriesDate": "20240101", "SeriesTime": "100000", "AcquisitionDate": "20240101",
            "AcquisitionTime": "100000", "RadiopharmaceuticalStartDateTime": "20240101100000"}
    inst.update(changes)
    return [{k: v for k, v in inst.items() if v is not None}]


@pytest.mark.skipif(not CASES.is_dir(), reason=f"reference data absent: {CASES}")
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_vendor_cases_match_calculate_suv(case: str) -> None:
    instances = json.loads((CASES / f"{case}-instances.json").read_text())
    result = suv_factors(instances, case)
    assert result.factors == pytest.approx([EXPECTED[case]] * len(instances), abs=1e-6, rel=1e-9)


def test_lbm_and_bsa_variants() -> None:
    assert suv_factors(synthetic(), "s").factor == pytest.approx(750)
    assert suv_factors(synthetic(), "s", mode="bsa").factor == pytest.approx(198.13758427117767)
    assert suv_factors(synthetic(), "s", mode="lbm", lbm_formula="james120").factor == pytest.approx(
        627.7757487216948)
    assert suv_factors(synthetic(), "s", mode="lbm").factor == pytest.approx(609.1533588651974)
    # James with the usual male coefficient 128: 1.1 W - 128 (W / H_cm)^2
    assert lean_body_mass_kg(75, 1.85, "M", "james128") == pytest.approx(1.1 * 75 - 128 * (75 / 185) ** 2)


def test_units_and_decay_corrections() -> None:
    assert suv_factors(synthetic(Units="GML"), "s").factor == 1.0
    one_half_life = synthetic(SeriesTime="115012", AcquisitionTime="115012")  # 6612 s, 24 s over one half-life
    start = suv_factors(one_half_life, "s")
    assert start.factor == pytest.approx(750 * 2 ** (6612 / 6588))
    assert suv_factors(one_half_life + one_half_life, "s", overrides={}).factors == [start.factor] * 2
    assert suv_factors(synthetic(DecayCorrection="ADMIN", SeriesTime="115012"), "s").factor == pytest.approx(750)
    none = synthetic(DecayCorrection="NONE") + synthetic(DecayCorrection="NONE", AcquisitionTime="115012")
    assert suv_factors(none, "s").factors == pytest.approx([750, start.factor])
    counts = synthetic(Units="CNTS", PhilipsPETPrivateGroup={"ActivityConcentrationScaleFactor": 1.602563})
    assert suv_factors(counts, "s").factor == pytest.approx(1.602563 * 750)


@pytest.mark.parametrize(("changes", "message"), [
    ({"PatientWeight": None}, r"P007 fu1 PT series 'WB AC': PatientWeight \(0010,1030\) is missing"),
    ({"PatientWeight": 0}, r"PatientWeight \(0010,1030\) is missing or empty \(dicom\)"),
    ({"RadionuclideTotalDose": None}, r"RadionuclideTotalDose \(0018,1074\) is missing"),
    ({"RadiopharmaceuticalStartDateTime": None}, r"RadiopharmaceuticalStartTime \(0018,1072\) is set"),
    ({"Units": "PROPCPS"}, r"Units \(0054,1001\) is 'PROPCPS'; supported are BQML, CNTS, GML"),
    ({"DecayCorrection": "XYZ"}, r"DecayCorrection \(0054,1102\) is 'XYZ'"),
    ({"CorrectedImage": ["DECY"]}, r"CorrectedImage \(0028,0051\)"),
    ({"Units": "CNTS"}, r"no Philips private SUVScaleFactor \(7053,1000\)"),
    ({"RadiopharmaceuticalStartDateTime": "20240101110000"}, r"before the injection"),
])
def test_missing_or_invalid_inputs_fail_clearly(changes: dict, message: str) -> None:
    with pytest.raises(SuvError, match=message):
        suv_factors(synthetic(**changes), "P007 fu1 PT series 'WB AC'")


def test_overrides_are_used_and_recorded() -> None:
    result = suv_factors(synthetic(PatientWeight=None), "s", overrides={"PatientWeight": 60})
    assert result.factor == pytest.approx(600)
    assert result.inputs["PatientWeight"] == {"value": 60, "source": "override"}


def test_instance_metadata_from_pydicom() -> None:
    ds = Dataset()
    ds.Units, ds.DecayCorrection, ds.CorrectedImage = "CNTS", "START", ["ATTN", "DECY"]
    ds.PatientWeight, ds.SeriesDate, ds.SeriesTime = "70.5", "20240101", "101010.5"
    drug = Dataset()
    drug.RadionuclideTotalDose, drug.RadionuclideHalfLife, drug.RadiopharmaceuticalStartTime = "3.7e8", "6588", "0900"
    ds.RadiopharmaceuticalInformationSequence = [drug]
    block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
    block.add_new(0x00, "DS", "0.000551")
    meta = instance_metadata(ds)
    assert meta == {"Units": "CNTS", "DecayCorrection": "START", "CorrectedImage": ["ATTN", "DECY"],
                    "PatientWeight": 70.5, "SeriesDate": "20240101", "SeriesTime": "101010.5",
                    "RadionuclideTotalDose": 3.7e8, "RadionuclideHalfLife": 6588.0,
                    "RadiopharmaceuticalStartTime": "0900", "PhilipsPETPrivateGroup": {"SUVScaleFactor": 0.000551}}


def test_missing_registry_weight_is_an_error_not_the_dicom_weight() -> None:
    with pytest.raises(SuvError, match=r"PatientWeight \(0010,1030\) is missing or empty \(override\)"):
        suv_factors(synthetic(), "s", overrides={"PatientWeight": None})
