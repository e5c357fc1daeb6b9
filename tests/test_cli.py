"""The wbrad command line: synth writes a cohort that validates against the workflow's schemas."""

from __future__ import annotations

import pandas as pd
import yaml
from jsonschema import Draft202012Validator

from wbrad.cli import main

from .conftest import REPO


def test_synth_writes_a_cohort_that_the_schemas_accept(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "c"), "--patients", "3", "--size", "tiny", "--seed", "2"]) == 0
    assert "3 patients" in capsys.readouterr().out
    manifest = pd.read_csv(tmp_path / "c/manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    registry = pd.read_csv(tmp_path / "c/registry.csv")
    for table, schema in ((manifest, "manifest"), (registry, "registry")):
        validator = Draft202012Validator(yaml.safe_load((REPO / f"schemas/{schema}.schema.yaml").read_text()))
        for record in table.to_dict("records"):
            record = {k: v for k, v in record.items() if v == v and v != ""}
            assert not list(validator.iter_errors(record)), (schema, record)
    assert sorted(registry.patient_id) == ["P001", "P002", "P003"]
    assert set(manifest.modality) <= {"CT", "PT"} and (manifest.modality == "CT").sum() >= 3
    for path in manifest.image:
        assert (tmp_path / "c" / path).exists()


def test_config_validates_against_its_schema():
    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert not list(Draft202012Validator(schema).iter_errors(config))
