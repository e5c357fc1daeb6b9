"""Cohort table and data dictionary on small hand-made tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from wbrad.cohort.dictionary import data_dictionary, describe, radiomics_unit
from wbrad.cohort.run import build_cohort
from wbrad.io import read_tsv

REGISTRY_COLUMNS = ["patient_id", "age", "sex", "height_cm", "weight_kg", "ecog", "ldh", "braf", "therapy",
                    "therapy_start", "os_days", "os_event", "pfs_days", "pfs_event", "best_response", "irae_any",
                    "irae_grade3"]
REGISTRY = ",".join(REGISTRY_COLUMNS) + """
P1,61,M,180,80,0,210,mutant,anti-PD1,2020-01-01,400,1,200,1,PR,0,0
P2,55,F,165,,1,350,wildtype,ipi+nivo,2020-02-01,300,0,100,1,PD,1,1
P3,70,F,,,2,500,wildtype,anti-PD1,2020-03-01,90,1,60,1,PD,0,0
"""
BODYCOMP = {
    "P1": "patient_id\ttimepoint\tl3_slice\tl3_sma_cm2\tl3_smi_cm2m2\tliver_hu\tqc_status\tqc_reason\n"
          "P1\tbaseline\t42\t150.5\t46.4\t55\tok\tNA\n",
    "P2": "patient_id\ttimepoint\tl3_slice\tl3_sma_cm2\tl3_smi_cm2m2\tliver_hu\tqc_status\tqc_reason\n"
          "P2\tbaseline\tNA\tNA\tNA\tNA\tfailed\tno vertebrae_L3 mask\n"
          "P2\tfu1\t40\t120\t44\t50\tok\tNA\n",
}
AGG_HEADER = "patient_id\ttimepoint\tmodality\tlesion_count\ttotal_volume_ml\tlargest_original_shape_VoxelVolume\t" \
             "vwmean_original_firstorder_Mean\tvwmean_original_glcm_Contrast\n"
AGGREGATES = {
    "P1": AGG_HEADER + "P1\tbaseline\tCT\t3\t12.5\t8000\t35\t2.5\nP1\tbaseline\tPT\t2\t10\t7000\t6.5\t1.5\n"
                       "P1\tfu1\tCT\t2\t6.25\t4000\t30\t2\n",
    "P2": AGG_HEADER + "P2\tbaseline\tCT\t1\t4\t4000\t40\t3\n",
}
DELTA = {
    "P1": "patient_id\ttimepoint\tbaseline_days\tabs_ct_total_volume_ml\trel_ct_total_volume_ml\n"
          "P1\tfu1\t84\t-6.25\t-0.5\nP1\tfu2\t168\t-10\t-0.8\n",
}


def write_inputs(tmp_path: Path) -> dict[str, object]:
    """Write the hand-made registry and per-patient tables; return build_cohort's input arguments."""
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY)

    def files(tables: dict[str, str], name: str) -> list[Path]:
        paths = []
        for patient, text in tables.items():
            path = tmp_path / patient / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            paths.append(path)
        return paths

    return {"registry": registry, "bodycomp": files(BODYCOMP, "bodycomp.tsv"),
            "aggregates": files(AGGREGATES, "aggregates.tsv"), "deltas": files(DELTA, "delta.tsv")}


@pytest.fixture()
def built(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    out_cohort, out_dict = tmp_path / "cohort" / "cohort.tsv", tmp_path / "cohort" / "dictionary.tsv"
    build_cohort(**write_inputs(tmp_path), out_cohort=out_cohort, out_dictionary=out_dict)
    return read_tsv(out_cohort, dtype={"patient_id": "string"}), read_tsv(out_dict)


def test_one_row_per_registry_patient_in_registry_order(built):
    cohort, _ = built
    assert list(cohort["patient_id"]) == ["P1", "P2", "P3"]
    assert list(cohort.columns[:17]) == REGISTRY_COLUMNS


def test_imaging_columns_and_values(built):
    cohort = built[0].set_index("patient_id")
    imaging = [c for c in cohort.columns if c.startswith(("bc_", "ct_", "pet_", "delta_"))]
    assert imaging == [
        "bc_l3_sma_cm2", "bc_l3_smi_cm2m2", "bc_liver_hu", "bc_qc_status",
        "ct_lesion_count", "ct_total_volume_ml", "ct_largest_original_shape_VoxelVolume",
        "ct_vwmean_original_firstorder_Mean", "ct_vwmean_original_glcm_Contrast",
        "pet_lesion_count", "pet_total_volume_ml", "pet_largest_original_shape_VoxelVolume",
        "pet_vwmean_original_firstorder_Mean", "pet_vwmean_original_glcm_Contrast",
        "delta_baseline_days", "delta_abs_ct_total_volume_ml", "delta_rel_ct_total_volume_ml",
    ]
    # baseline rows, not fu1; first follow-up only, not fu2
    assert cohort.loc["P1", "bc_l3_sma_cm2"] == 150.5
    assert cohort.loc["P1", "ct_total_volume_ml"] == 12.5
    assert cohort.loc["P1", "pet_vwmean_original_firstorder_Mean"] == 6.5
    assert cohort.loc["P1", "delta_rel_ct_total_volume_ml"] == -0.5
    assert cohort.loc["P1", "delta_baseline_days"] == 84


def test_failed_qc_no_pet_and_no_followup_are_na(built):
    cohort = built[0].set_index("patient_id")
    assert cohort.loc["P2", "bc_qc_status"] == "failed"
    assert math.isnan(cohort.loc["P2", "bc_l3_sma_cm2"])  # failed baseline, not the fu1 value
    assert cohort.loc["P2", "ct_lesion_count"] == 1
    assert math.isnan(cohort.loc["P2", "pet_lesion_count"])
    assert math.isnan(cohort.loc["P2", "delta_rel_ct_total_volume_ml"])


def test_patient_without_imaging_keeps_registry_values(built):
    cohort = built[0].set_index("patient_id")
    assert cohort.loc["P3", "age"] == 70 and cohort.loc["P3", "os_days"] == 90
    imaging = [c for c in cohort.columns if c.startswith(("bc_", "ct_", "pet_", "delta_"))]
    assert cohort.loc["P3", imaging].isna().all()


def test_dictionary_covers_every_column(built):
    cohort, dictionary = built
    assert list(dictionary["column"]) == list(cohort.columns)
    assert list(dictionary.columns) == ["column", "unit", "source", "description"]
    assert dictionary["description"].notna().all() and dictionary["source"].notna().all()
    assert dictionary["unit"].notna().all() and not dictionary["source"].str.endswith("(undeclared)").any()
    units = dictionary.set_index("column")["unit"]
    assert units["age"] == "years" and units["ldh"] == "U/L" and units["os_days"] == "days"
    assert units["bc_l3_sma_cm2"] == "cm2" and units["bc_l3_smi_cm2m2"] == "cm2/m2"
    assert units["bc_liver_hu"] == "HU" and units["bc_qc_status"] == "category"
    assert units["ct_lesion_count"] == "n" and units["ct_total_volume_ml"] == "ml"
    assert units["ct_largest_original_shape_VoxelVolume"] == "mm3"
    assert units["ct_vwmean_original_firstorder_Mean"] == "HU"
    assert units["pet_vwmean_original_firstorder_Mean"] == "SUV"
    assert units["pet_vwmean_original_glcm_Contrast"] == "unitless"
    assert units["delta_abs_ct_total_volume_ml"] == "ml"
    assert units["delta_rel_ct_total_volume_ml"] == "fraction"
    assert units["delta_baseline_days"] == "days"


@pytest.mark.parametrize(("feature", "modality", "unit"), [
    ("original_shape_MeshVolume", "ct", "mm3"),
    ("original_shape_SurfaceArea", "ct", "mm2"),
    ("original_shape_Maximum3DDiameter", "pet", "mm"),
    ("original_shape_MajorAxisLength", "ct", "mm"),
    ("original_shape_Sphericity", "ct", "unitless"),
    ("original_firstorder_Maximum", "pet", "SUV"),
    ("original_firstorder_Variance", "ct", "HU^2"),
    ("original_firstorder_Entropy", "ct", "unitless"),
    ("wavelet-LLH_firstorder_Mean", "ct", "a.u."),
    ("original_glszm_ZoneEntropy", "pet", "unitless"),
    ("not_a_feature", "ct", None),
])
def test_radiomics_units(feature, modality, unit):
    assert radiomics_unit(feature, modality) == unit


def test_descriptions_name_timepoints():
    unit, source, text = describe("delta_rel_pet_largest_original_shape_VoxelVolume", "baseline", "fu1")
    assert unit == "fraction" and source == "delta.tsv (fu1)"
    assert "largest ok lesion" in text and "PET" in text and "fu1" in text
    extra = data_dictionary(["extra_clinic_field"]).iloc[0]
    assert extra["source"] == "registry.csv (undeclared)" and pd.isna(extra["unit"])


def test_duplicate_rows_and_unknown_patients_are_errors(tmp_path: Path):
    inputs = write_inputs(tmp_path)
    dup = tmp_path / "P1" / "aggregates.tsv"
    dup.write_text(AGGREGATES["P1"] + "P1\tbaseline\tCT\t9\t9\t9\t9\t9\n")
    with pytest.raises(ValueError, match=r"aggregates.tsv CT at baseline.*P1"):
        build_cohort(**inputs, out_cohort=tmp_path / "c.tsv", out_dictionary=tmp_path / "d.tsv")
    dup.write_text(AGGREGATES["P1"].replace("P1\t", "P9\t"))
    with pytest.raises(ValueError, match="not in the registry.*P9"):
        build_cohort(**inputs, out_cohort=tmp_path / "c.tsv", out_dictionary=tmp_path / "d.tsv")
    assert not (tmp_path / "c.tsv").exists()


def test_no_imaging_at_all_gives_the_registry(tmp_path: Path):
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY.replace("P1,", "007,"))
    build_cohort(registry, [], [], [], tmp_path / "c.tsv", tmp_path / "d.tsv")
    cohort = read_tsv(tmp_path / "c.tsv", dtype={"patient_id": "string"})
    assert list(cohort["patient_id"]) == ["007", "P2", "P3"]
    assert list(cohort.columns) == REGISTRY_COLUMNS


BURDEN_HEADER = "patient_id\ttimepoint\tthreshold_rule\ttmtv_ml\ttlg\tlesion_count\tsuvmax\tdmax_mm\treason\n"
BURDEN = {
    "P1": {"baseline": "P1\tbaseline\tabsolute\t40\t300\t4\t12.5\t210\tNA\n",
           "fu1": "P1\tfu1\tabsolute\t10\t60\t1\t6\t0\tNA\n", "fu2": "P1\tfu2\tabsolute\t0\t0\t0\tNA\tNA\tNA\n"},
    "P2": {"baseline": "P2\tbaseline\tabsolute\t0\t0\t0\tNA\tNA\tNA\n"},
}


def test_pet_burden_at_baseline_and_its_change_at_the_followup(tmp_path: Path):
    inputs = write_inputs(tmp_path)
    tables = []
    for patient, rows in BURDEN.items():
        for timepoint, row in rows.items():
            path = tmp_path / patient / timepoint / "burden.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(BURDEN_HEADER + row)
            tables.append(path)
    build_cohort(**inputs, out_cohort=tmp_path / "c.tsv", out_dictionary=tmp_path / "d.tsv", burden=tables)
    cohort = read_tsv(tmp_path / "c.tsv", dtype={"patient_id": "string"}).set_index("patient_id")
    values = ["tmtv_ml", "tlg", "lesion_count", "suvmax", "dmax_mm"]
    burden = [c for c in cohort.columns if "burden" in c]
    changes = [f"delta_{kind}_burden_{v}" for kind in ("abs", "rel") for v in values]
    assert burden == [*(f"burden_{v}" for v in values), *changes]
    assert cohort.loc["P1", "burden_tmtv_ml"] == 40 and cohort.loc["P1", "burden_dmax_mm"] == 210
    assert cohort.loc["P1", "delta_abs_burden_tmtv_ml"] == -30 and cohort.loc["P1", "delta_rel_burden_tmtv_ml"] == -0.75
    assert cohort.loc["P1", "delta_abs_burden_lesion_count"] == -3 and cohort.loc["P2", "burden_lesion_count"] == 0
    assert cohort.loc["P2", "burden_tmtv_ml"] == 0 and math.isnan(cohort.loc["P2", "delta_abs_burden_tmtv_ml"])
    assert cohort.loc["P3", burden].isna().all()  # no PET
    dictionary = read_tsv(tmp_path / "d.tsv").set_index("column")
    assert not dictionary["source"].str.endswith("(undeclared)").any()
    assert dictionary.loc["burden_tmtv_ml", "unit"] == "ml" and dictionary.loc["burden_tlg", "unit"] == "SUV ml"
    assert dictionary.loc["delta_rel_burden_dmax_mm", "unit"] == "fraction"
    assert dictionary.loc["delta_abs_burden_suvmax", "source"] == "burden.tsv (fu1, baseline)"
    assert "baseline PET tumour burden" in dictionary.loc["burden_tmtv_ml", "description"]
    assert describe("burden_threshold_suv")[1] == "burden.tsv (undeclared)"  # not a cohort value
