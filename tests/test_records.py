"""Impossible records (wbrad.records): each check on hand-made sheets, and a synthetic cohort with two of them that
the audit lists per patient and the workflow refuses to start."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from wbrad.cli import main
from wbrad.records import BLOCKING, CHECKS, WARNING, record_problems
from wbrad.study import Timepoints, schema
from wbrad.synth import write_cohort

from .conftest import REPO
from .workflow.conftest import snakemake, write_tiny_config

KEY = ["patient_id", "timepoint", "modality"]
DEFAULT = Timepoints()


def sheets(scans: list[tuple[str, str, str, str]], patients: list[tuple[str, str, int, int, int]]):
    """A manifest (patient, timepoint, date, modality) and a registry (patient, therapy_start, os_days, os_event,
    pfs_days), indexed as read_manifest and read_registry return them."""
    manifest = pd.DataFrame(scans, columns=["patient_id", "timepoint", "scan_date", "modality"])
    registry = pd.DataFrame(patients, columns=["patient_id", "therapy_start", "os_days", "os_event", "pfs_days"])
    return manifest.set_index(KEY, drop=False), registry.set_index("patient_id", drop=False)


def found(manifest, registry, severities=None, timepoints=DEFAULT) -> list[tuple[str, str, str, str]]:
    return [(p.patient, p.timepoint, p.check, p.severity)
            for p in record_problems(manifest, registry, timepoints, severities)]


A_START = ("A", "2023-02-10", 400, 1, 200)  # therapy 2023-02-10, death 2024-03-16


def test_a_consistent_patient_has_no_problem():
    manifest, registry = sheets([("A", "baseline", "2023-02-01", "CT"), ("A", "baseline", "2023-02-02", "PT"),
                                 ("A", "fu1", "2023-05-01", "CT"), ("A", "fu1", "2023-05-01", "PT"),
                                 ("A", "fu2", "2024-03-16", "CT")], [A_START])  # fu2 on the day of death
    assert found(manifest, registry) == []


def test_a_followup_before_baseline_is_blocking_and_names_both_dates():
    manifest, registry = sheets([("A", "baseline", "2023-02-01", "CT"), ("A", "fu1", "2023-01-20", "CT")],
                                [("A", "2023-01-10", 400, 1, 200)])
    problems = record_problems(manifest, registry, Timepoints())
    assert found(manifest, registry) == [("A", "fu1", "followup_before_baseline", BLOCKING)]
    assert problems[0].detail == "CT 2023-01-20 is before the baseline scan of 2023-02-01"


def test_the_configured_baseline_is_the_reference():
    manifest, registry = sheets([("A", "bl", "2023-02-01", "CT"), ("A", "baseline", "2023-01-20", "CT")],
                                [("A", "2023-01-10", 400, 1, 200)])
    assert found(manifest, registry, timepoints=Timepoints("bl", "baseline")) == [
        ("A", "baseline", "followup_before_baseline", BLOCKING)]


def test_a_followup_before_therapy_start_is_blocking_and_one_problem_per_timepoint():
    manifest, registry = sheets([("A", "baseline", "2023-02-01", "CT"), ("A", "fu1", "2023-02-05", "CT"),
                                 ("A", "fu1", "2023-02-05", "PT")], [A_START])
    problems = record_problems(manifest, registry, Timepoints())
    assert found(manifest, registry) == [("A", "fu1", "scan_before_therapy", BLOCKING)]
    assert problems[0].detail == ("CT 2023-02-05 is before therapy_start 2023-02-10; "
                                  "PT 2023-02-05 is before therapy_start 2023-02-10")


def test_a_scan_after_death_is_blocking():
    manifest, registry = sheets([("A", "baseline", "2023-02-01", "CT"), ("A", "fu1", "2024-03-17", "CT")],
                                [A_START])
    problems = record_problems(manifest, registry, Timepoints())
    assert found(manifest, registry) == [("A", "fu1", "scan_after_death", BLOCKING)]
    assert problems[0].detail == "CT 2024-03-17 is after death on 2024-03-16 (therapy_start 2023-02-10 + os_days 400)"


def test_a_scan_after_the_last_followup_of_a_censored_patient_is_a_warning():
    manifest, registry = sheets([("A", "baseline", "2023-02-01", "CT"), ("A", "fu1", "2024-04-01", "CT")],
                                [("A", "2023-02-10", 400, 0, 200)])
    problems = record_problems(manifest, registry, Timepoints())
    assert found(manifest, registry) == [("A", "fu1", "scan_after_last_followup", WARNING)]
    assert "last follow-up on 2024-03-16" in problems[0].detail and "update os_days" in problems[0].detail


def test_pfs_longer_than_os_is_blocking_also_for_a_patient_without_scans():
    manifest, registry = sheets([("A", "baseline", "2023-02-01", "CT")], [A_START, ("B", "2023-03-01", 100, 1, 130)])
    problems = record_problems(manifest, registry, Timepoints())
    assert found(manifest, registry) == [("B", "", "pfs_longer_than_os", BLOCKING)]
    assert problems[0].detail.startswith("pfs_days 130 > os_days 100")


def test_two_timepoints_of_one_modality_on_one_date_are_blocking_but_ct_and_pet_of_one_timepoint_are_not():
    manifest, registry = sheets([("A", "baseline", "2023-02-01", "CT"), ("A", "baseline", "2023-02-01", "PT"),
                                 ("A", "fu1", "2023-05-01", "CT"), ("A", "fu2", "2023-05-01", "CT")], [A_START])
    problems = record_problems(manifest, registry, Timepoints())
    assert found(manifest, registry) == [("A", "fu2", "duplicate_scan_date", BLOCKING)]
    assert problems[0].detail == "CT 2023-05-01 is the date of the fu1 CT"


def test_the_config_relaxes_a_check_to_a_warning_and_its_defaults_are_the_schemas():
    manifest, registry = sheets([("A", "baseline", "2023-02-01", "CT"), ("A", "fu1", "2023-02-05", "CT")],
                                [A_START])
    assert found(manifest, registry, {"scan_before_therapy": WARNING}) == [
        ("A", "fu1", "scan_before_therapy", WARNING)]
    declared = schema("config")["properties"]["record_checks"]["properties"]
    assert {name: spec["default"] for name, spec in declared.items()} == CHECKS


# --- the synthetic cohort with two impossible records: audit and workflow -------------------------------------------
@pytest.fixture(scope="module")
def impossible(tmp_path_factory) -> tuple[Path, str, str]:
    """A tiny synthetic cohort whose first patient with a follow-up has it dated before baseline, and another
    patient with PFS longer than OS; returns the folder, and the two patients."""
    folder = tmp_path_factory.mktemp("records")
    write_cohort(folder / "cohort", n_patients=4, seed=2, size="tiny", pet_share=0.5)
    write_tiny_config(folder)
    manifest = pd.read_csv(folder / "cohort/manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    registry = pd.read_csv(folder / "cohort/registry.csv", dtype={"patient_id": str})
    early = sorted(manifest.loc[manifest.timepoint == "fu1", "patient_id"])[0]
    baseline = pd.Timestamp(manifest.loc[(manifest.patient_id == early) & (manifest.timepoint == "baseline"),
                                         "scan_date"].min())
    manifest.loc[(manifest.patient_id == early) & (manifest.timepoint == "fu1"), "scan_date"] = (
        (baseline - pd.Timedelta(days=10)).strftime("%Y-%m-%d"))
    longer = sorted(set(registry.patient_id) - {early})[0]
    registry.loc[registry.patient_id == longer, "pfs_days"] = registry.loc[registry.patient_id == longer,
                                                                           "os_days"] + 30
    manifest.to_csv(folder / "cohort/manifest_bad.tsv", sep="\t", index=False)  # beside the images it names
    registry.to_csv(folder / "cohort/registry_bad.csv", index=False)
    (folder / "bad.yaml").write_text("manifest: cohort/manifest_bad.tsv\nregistry: cohort/registry_bad.csv\n")
    return folder, early, longer


def test_the_audit_lists_both_impossible_records_per_patient(impossible, capsys):
    folder, early, longer = impossible
    configs = [str(REPO / "config.yaml"), str(folder / "tiny.yaml"), str(folder / "bad.yaml")]
    assert main(["audit", "--configfile", *configs, "--directory", str(folder), "--out", str(folder / "audit"),
                 "--strict"]) == 1
    printed = capsys.readouterr().out
    problems = pd.read_csv(folder / "audit/problems.tsv", sep="\t", keep_default_na=False)
    records = problems[problems.check.isin(CHECKS)]
    assert sorted(zip(records.patient, records.timepoint, records.check, strict=True)) == sorted(
        [(early, "fu1", "followup_before_baseline"), (early, "fu1", "scan_before_therapy"),
         (longer, "", "pfs_longer_than_os")])
    assert (records.severity == BLOCKING).all()
    assert f"[blocking] {early} fu1 followup_before_baseline: CT " in printed
    table = pd.read_csv(folder / "audit/audit.tsv", sep="\t", keep_default_na=False).set_index(
        ["patient_id", "timepoint"])
    assert "pfs_longer_than_os" in table.at[(longer, "baseline"), "problems"]
    print(printed)  # shown with -s


def test_the_workflow_refuses_to_start_naming_both_impossible_records(impossible):
    folder, early, longer = impossible
    result = snakemake(folder, "-n", "--config", "manifest=cohort/manifest_bad.tsv",
                       "registry=cohort/registry_bad.csv", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "3 impossible record(s) in cohort/manifest_bad.tsv" in output
    assert f"[blocking] patient {early} fu1: followup_before_baseline: CT " in output
    assert f"[blocking] patient {longer}: pfs_longer_than_os: pfs_days " in output
    print(output[output.index("3 impossible"):])  # shown with -s
