"""docs/data-contracts.md and the cohort's data dictionary agree with the column declarations."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from wbrad.bodycomp import columns as bodycomp
from wbrad.cohort.dictionary import data_dictionary, main, markdown_tables, registry_properties, rewrite_doc
from wbrad.cohort.merge import BODYCOMP_DROP
from wbrad.lesions.aggregate import KEYS, aggregate

from .conftest import REPO

DOC = REPO / "docs" / "data-contracts.md"
FEATURES = ["original_shape_VoxelVolume", "original_shape_Maximum3DDiameter", "original_firstorder_Mean",
            "original_glcm_Contrast", "wavelet-LLH_firstorder_Energy"]


def lesion_table() -> pd.DataFrame:
    """Two PET lesions with every value column a lesion table can have."""
    values = {"site": ["liver", "bone"], "volume_ml": [2.0, 1.0], "centroid_x_mm": [0.0, 10.0],
              "centroid_y_mm": [0.0, 0.0], "centroid_z_mm": [0.0, 0.0], "long_axis_mm": [20.0, 12.0],
              "short_axis_mm": [10.0, 8.0], "suvmax": [9.0, 5.0], "suvpeak": [7.0, 4.0], "suvmean": [4.0, 3.0],
              "mtv_ml": [2.0, 1.0], "tlg": [8.0, 3.0], **{f: [1.0, 2.0] for f in FEATURES}}
    return pd.DataFrame({"patient_id": "P1", "timepoint": "baseline", "modality": "pet", "lesion": [1, 2],
                         "status": "ok", "reason": pd.NA, **values})


def cohort_columns() -> list[str]:
    """Every column family of cohort.tsv: the registry's, ``bc_``, ``ct_``/``pet_``, ``delta_`` and the stage's own,
    with the aggregates that lesions.aggregate really produces."""
    aggregates = [c for c in aggregate(lesion_table()).columns if c not in KEYS]
    scans = [f"{m}_{a}" for m in ("ct", "pet") for a in aggregates]
    return [*registry_properties(), *(f"bc_{c.name}" for c in bodycomp.COLUMNS[2:] if c.name not in BODYCOMP_DROP),
            *scans, "delta_baseline_days", *(f"delta_{kind}_{s}" for kind in ("abs", "rel") for s in scans),
            "landmark_days"]


def undescribed(dictionary: pd.DataFrame) -> list[str]:
    """Columns without a unit word, with an undeclared source, or whose description only echoes the name."""
    bad = (dictionary["unit"].fillna("").str.strip() == "") | dictionary["source"].str.endswith("(undeclared)")
    echo = pd.Series([d.strip().lower().replace(" ", "_") in ("", c.lower())
                      for c, d in zip(dictionary["column"], dictionary["description"], strict=True)],
                     index=dictionary.index)
    return dictionary.loc[bad | echo, "column"].tolist()


def test_the_doc_tables_are_the_declarations():
    text = DOC.read_text(encoding="utf-8")
    assert rewrite_doc(text) == text, "run: python -m wbrad.cohort.dictionary --write-doc docs/data-contracts.md"


def test_the_bodycomp_table_lists_every_column_in_order():
    rows = markdown_tables()["bodycomp"].splitlines()[2:]
    assert [row.split(" | ")[0].strip("| `") for row in rows] == [c.name for c in bodycomp.COLUMNS]


def test_rewrite_refuses_missing_or_unknown_markers():
    text = DOC.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="markers"):
        rewrite_doc(text.replace("<!-- columns:cohort:end -->", ""))
    with pytest.raises(ValueError, match="markers"):
        rewrite_doc(text + "<!-- columns:unknown:start -->\n<!-- columns:unknown:end -->\n")


def test_cli_checks_and_rewrites_a_stale_doc(tmp_path: Path, capsys):
    stale = tmp_path / "contracts.md"
    stale.write_text(DOC.read_text(encoding="utf-8").replace("| `lesion_count` | n |", "| `lesion_count` | ? |"))
    assert main(["--check-doc", str(stale)]) == 1 and "--write-doc" in capsys.readouterr().err
    assert main(["--write-doc", str(stale)]) == 0 and main(["--check-doc", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


def test_every_cohort_column_family_has_a_unit_and_a_description():
    columns = cohort_columns()
    assert {"ct_site_liver", "pet_max_suvmax", "pet_total_tlg", "ct_sd_original_glcm_Contrast",
            "delta_rel_pet_vwmean_wavelet-LLH_firstorder_Energy"} <= set(columns)
    dictionary = data_dictionary(columns, "baseline", "fu1")
    assert undescribed(dictionary) == []
    units = dictionary.set_index("column")["unit"]
    assert units["pet_total_tlg"] == "SUV ml" and units["pet_largest_original_firstorder_Mean"] == "SUV"
    assert units["ct_iqr_wavelet-LLH_firstorder_Energy"] == "a.u.^2" and units["bc_sarcopenia"] == "0/1"
    assert units["delta_abs_ct_site_bone"] == "-1/0/1" and units["landmark_days"] == "days"


def test_an_undeclared_column_is_flagged():
    dictionary = data_dictionary(["clinic_extra", "ct_unknown_aggregate", "bc_new_metric", "delta_abs_ct_new"])
    assert undescribed(dictionary) == list(dictionary["column"])
    assert list(dictionary["source"]) == ["registry.csv (undeclared)", "aggregates.tsv (undeclared)",
                                          "bodycomp.tsv (undeclared)", "delta.tsv (undeclared)"]
