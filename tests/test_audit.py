"""`wbrad audit`: the study checks, Snakemake's dry-run parsed into jobs, and the acceptance case of the audit."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from wbrad.audit.checks import dicom_weight_kg, failed_bodycomp_qc, pet_suv_prerequisites
from wbrad.audit.dryrun import PlannedJob, parse_dry_run
from wbrad.audit.run import estimate_sources, job_hours
from wbrad.cli import main
from wbrad.synth import write_cohort

from .conftest import REPO
from .workflow.conftest import write_tiny_config

DRY_RUN = """Building DAG of jobs...
Job stats:
job      count
-------  -----
lesions      1
total        2

[Mon Nov 23 06:33:28 2026]
rule lesions:
    input: results/P001/baseline/ct.nii.gz, results/P001/baseline/lesions.nii.gz
    output: results/P001/baseline/lesions_ct.tsv
    jobid: 8
    reason: Missing output files: results/P001/baseline/lesions_ct.tsv
    wildcards: patient=P001, timepoint=baseline, modality=ct
    threads: 2
    resources: tmpdir=/tmp, runtime=30, mem_mb=4000, mem=4 GB, mem_mib=3815
[Mon Nov 23 06:36:36 2026] Group job bodycomp (jobs in lexicogr. order):

    [Mon Nov 23 06:36:36 2026]
    rule segment:
        output: results/P001/baseline/seg
        reason: Params have changed since last execution
        wildcards: patient=P001, timepoint=baseline
        resources: tmpdir=/tmp, runtime=60, gpu=1, mem_mb=4000
[Mon Nov 23 06:33:28 2026]
localrule all:
    input: results/cohort/cohort.tsv
    jobid: 0
    reason: Input files updated by another job: results/cohort/cohort.tsv
    resources: tmpdir=/tmp
Job stats:
This was a dry-run (flag -n). The order of jobs does not reflect the order of execution.
"""


def test_a_dry_run_log_parses_into_jobs_with_wildcards_reasons_and_resources():
    lesions, segment, everything = parse_dry_run(DRY_RUN)
    assert lesions.key == ("lesions", "P001", "baseline", "ct")
    assert lesions.threads == 2 and lesions.resource("runtime") == 30 and lesions.resource("gpu") == 0
    assert lesions.reason.startswith("Missing output files")
    assert lesions.outputs == ("results/P001/baseline/lesions_ct.tsv",)
    assert segment.rule == "segment" and segment.resource("gpu") == 1 and segment.threads == 1
    assert segment.reason == "Params have changed since last execution"
    assert everything.rule == "all" and everything.wildcards == {}


def test_hours_come_from_past_runs_where_a_rule_has_run_else_from_its_requested_runtime():
    lesions = PlannedJob("lesions", {"patient": "P001"}, threads=2, resources={"runtime": "30"})
    segment = PlannedJob("segment", {"patient": "P001"}, resources={"runtime": "60", "gpu": "1"})
    everything = PlannedJob("all")
    typical = {"lesions": 36.0}
    assert job_hours(lesions, typical) == 0.01 and job_hours(segment, typical) == 1.0
    assert estimate_sources([lesions, segment, everything], typical) == (
        "past runs' median for lesions; requested runtime for segment")


def test_nothing_to_do_parses_to_no_jobs():
    assert parse_dry_run("Building DAG of jobs...\nNothing to be done (all requested files are present).\n") == []


def _dicom_pet(folder: Path, weight: float | None) -> Path:
    folder.mkdir(parents=True)
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.128"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.Modality = ds.file_meta.MediaStorageSOPClassUID, "PT"
    if weight is not None:
        ds.PatientWeight = weight
    ds.save_as(folder / "1.dcm", enforce_file_format=True)
    return folder


def test_pet_weight_comes_from_the_dicom_header_or_the_registry(tmp_path: Path):
    assert dicom_weight_kg(_dicom_pet(tmp_path / "weighed", 72.5)) == 72.5
    assert dicom_weight_kg(_dicom_pet(tmp_path / "unweighed", None)) is None
    manifest = pd.DataFrame({"patient_id": ["A", "B", "C"], "timepoint": ["baseline"] * 3, "modality": ["PT"] * 3,
                             "image": [str(tmp_path / "weighed"), str(tmp_path / "unweighed"), "C/pet.nii.gz"]})
    registry = pd.DataFrame({"patient_id": ["A", "B", "C"], "weight_kg": [None, None, None]}).set_index(
        "patient_id", drop=False)
    problems = {p.patient: p for p in pet_suv_prerequisites(manifest, registry)}
    assert sorted(problems) == ["B", "C"]
    assert problems["B"].severity == "blocking" and "PatientWeight" in problems["B"].detail
    assert problems["C"].severity == "warning"  # a NIfTI PET is SUV already; its weight is only unverifiable
    registry.loc["B", "weight_kg"] = 80.0
    assert [p.patient for p in pet_suv_prerequisites(manifest, registry)] == ["C"]


def test_body_composition_qc_failures_of_the_last_run_are_listed_per_scan(tmp_path: Path):
    manifest = pd.DataFrame(
        {
            "patient_id": ["A", "A", "B", "C"],
            "timepoint": ["baseline", "fu1", "baseline", "baseline"],
            "modality": ["CT", "CT", "CT", "PT"],
        }
    )
    for patient, timepoint, status, reason in [
        ("A", "baseline", "ok", ""),
        ("A", "fu1", "failed", "L3 missing"),
        ("C", "baseline", "failed", "a PET row is not a CT"),
    ]:
        folder = tmp_path / patient / timepoint
        folder.mkdir(parents=True)
        (folder / "bodycomp.tsv").write_text(
            f"l3_sma_cm2\tqc_status\tqc_reason\n150.2\t{status}\t{reason}\n", encoding="utf-8"
        )
    problems = failed_bodycomp_qc(manifest, tmp_path)  # B has no results yet, C's row is PET
    assert [(p.patient, p.timepoint, p.severity, p.detail) for p in problems] == [
        ("A", "fu1", "warning", "last run failed: L3 missing")
    ]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A tiny synthetic cohort (4 patients, PET for half) with the test config, as the workflow tests use it."""
    folder = tmp_path_factory.mktemp("audit")
    write_cohort(folder / "cohort", n_patients=4, seed=2, size="tiny", pet_share=0.5)
    write_tiny_config(folder)
    return folder


def audit(study: Path, *configs: Path, strict: bool = True) -> int:
    configfiles = [str(REPO / "config.yaml"), str(study / "tiny.yaml"), *map(str, configs)]
    return main(
        [
            "audit",
            "--configfile",
            *configfiles,
            "--directory",
            str(study),
            "--out",
            str(study / "audit"),
            *(["--strict"] if strict else []),
        ]
    )


def test_a_complete_study_has_no_problems_and_lists_every_job_with_its_reason(study: Path, capsys):
    assert audit(study) == 0
    assert "0 problems" in capsys.readouterr().out
    table = pd.read_csv(study / "audit/audit.tsv", sep="\t", keep_default_na=False)
    manifest = pd.read_csv(study / "cohort/manifest.tsv", sep="\t")
    scans = table[~table.timepoint.isin(["(patient)", ""])]
    assert len(scans) == len(manifest[["patient_id", "timepoint"]].drop_duplicates())
    assert scans.jobs.str.contains("convert_ct").all() and scans.reasons.str.contains("Missing output files").all()
    assert (scans.cpu_hours > 0).all()
    study_jobs = table.loc[table.patient_id == "(study)", "jobs"].item().split(", ")
    assert {"all", "cohort", "model"} <= set(study_jobs)  # study-level rules only (the config adds model_binary ...)
    assert not {"convert_ct", "segment", "bodycomp", "lesions", "track"} & set(study_jobs)
    assert "<table" in (study / "audit/audit.html").read_text()


def test_the_audit_names_exactly_a_missing_pet_weight_a_missing_height_and_missing_weights(
    study: Path, tmp_path, capsys
):
    registry = pd.read_csv(study / "cohort/registry.csv")
    manifest = pd.read_csv(study / "cohort/manifest.tsv", sep="\t")
    pet_patient = sorted(manifest.loc[manifest.modality == "PT", "patient_id"])[0]
    other = sorted(set(registry.patient_id) - {pet_patient})[0]
    registry.loc[registry.patient_id == pet_patient, "weight_kg"] = None
    registry.loc[registry.patient_id == other, "height_cm"] = None
    registry.to_csv(tmp_path / "registry.csv", index=False)
    problems_config = tmp_path / "problems.yaml"
    problems_config.write_text(
        f"registry: {tmp_path / 'registry.csv'}\n"
        "segmentation:\n  backend: totalsegmentator\n"
        f"  totalsegmentator: {{python: {sys.executable}, weights: {tmp_path / 'no_weights'}, fast: true, "
        "tasks: [total]}\n"
    )

    assert audit(study, problems_config, strict=False) == 0
    assert audit(study, problems_config) == 1  # --strict: missing weights block every segment job
    problems = pd.read_csv(study / "audit/problems.tsv", sep="\t", keep_default_na=False)
    assert sorted(zip(problems.check, problems.patient, strict=True)) == sorted(
        [("PET SUV", pet_patient), ("height", other), ("segmentation weights", "")]
    )
    assert "weights missing" in problems.set_index("check").at["segmentation weights", "detail"]
    assert "3 problems" in capsys.readouterr().out


def test_a_ct_without_its_precomputed_segmentation_is_named_by_the_audit_and_stops_the_workflow(study: Path, tmp_path):
    manifest = pd.read_csv(study / "cohort/manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    first_ct = manifest.index[manifest.modality == "CT"][0]
    manifest.loc[first_ct, "segmentation"] = ""
    manifest.to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    for folder in ("images",):  # paths in the manifest are relative to its folder
        (tmp_path / folder).symlink_to(study / "cohort" / folder)
    config = tmp_path / "unsegmented.yaml"
    config.write_text(f"manifest: {tmp_path / 'manifest.tsv'}\n")

    assert audit(study, config, strict=True) == 1
    problems = pd.read_csv(study / "audit/problems.tsv", sep="\t", keep_default_na=False)
    patient, timepoint = manifest.loc[first_ct, ["patient_id", "timepoint"]]
    named = problems[(problems.check == "inputs") & (problems.severity == "blocking")]
    assert named[["patient", "timepoint"]].values.tolist() == [[patient, timepoint]]
    assert "segmentation folder not named" in named.detail.item()
