"""The licence-free route through Snakemake: the segment job writes the muscle and fat masks it derives, so lesion
sites (lymph nodes and subcutaneous deposits, told apart by the fat around them) match the synthetic truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad.study import BODYCOMP, LESION_TABLE, RESULTS, SEG_DIR, path
from wbrad.synth import write_cohort
from wbrad.truthcheck import check_lesion_sites

from .conftest import snakemake, write_tiny_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

DERIVED = ("skeletal_muscle", "subcutaneous_fat", "torso_fat")


def scans(truth: dict) -> list[tuple[str, str, dict]]:
    return [(patient, timepoint, scan) for patient, record in truth["patients"].items()
            for timepoint, scan in record["timepoints"].items()]


@pytest.fixture(scope="module")
def licence_free_run(tmp_path_factory) -> tuple[Path, dict]:
    """Four patients (lymph-node, subcutaneous and liver lesions), run up to the lesion and bodycomp tables."""
    workdir = tmp_path_factory.mktemp("licence_free")
    write_cohort(workdir / "cohort", n_patients=4, seed=5, size="tiny", pet_share=0.0)
    write_tiny_config(workdir)
    with open(workdir / "tiny.yaml", "a") as fh:
        fh.write("bodycomp: {tissue_source: licence_free}\n")
    truth = json.loads((workdir / "cohort" / "truth.json").read_text())
    targets = [path(template, patient=p, timepoint=tp, modality="ct")
               for p, tp, _ in scans(truth) for template in (LESION_TABLE, BODYCOMP)]
    snakemake(workdir, *targets)
    return workdir, truth


def seg_of(workdir: Path, patient: str, timepoint: str) -> Path:
    return workdir / path(SEG_DIR, patient=patient, timepoint=timepoint)


def voxels(file: Path) -> int:
    return int(sitk.GetArrayViewFromImage(sitk.ReadImage(str(file))).sum())


def test_segment_job_writes_the_derived_masks(licence_free_run) -> None:
    workdir, truth = licence_free_run
    for patient, timepoint, _ in scans(truth):
        seg = seg_of(workdir, patient, timepoint)
        assert sorted(p.name for p in (seg / "tissue_types").iterdir()) == [f"{name}.nii.gz" for name in DERIVED]
        derived = json.loads((seg / "derived.json").read_text())
        assert derived["tissue_source"] == "licence_free"
        assert sorted(derived["classes"]) == [f"tissue_types/{name}" for name in DERIVED]
        # derived, not copied: the `total` muscles leave out the abdominal wall of the cohort's own tissue_types
        source = workdir / "cohort" / "images" / patient / timepoint / "seg" / "tissue_types" / "skeletal_muscle.nii.gz"
        assert 0 < voxels(seg / "tissue_types" / "skeletal_muscle.nii.gz") < voxels(source)


def test_lesion_sites_match_the_truth(licence_free_run) -> None:
    workdir, truth = licence_free_run
    check = check_lesion_sites(truth, workdir / RESULTS, floor=0.95)
    assert check.passed, check.detail
    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for patient, timepoint, scan in scans(truth):
        table = pd.read_csv(workdir / path(LESION_TABLE, patient=patient, timepoint=timepoint, modality="ct"),
                            sep="\t").set_index("lesion")
        for label, lesion in scan["lesions"].items():
            total[lesion["site"]] += 1
            agree[lesion["site"]] += table.at[int(label), "site"] == lesion["site"]
    print({site: f"{agree[site]}/{n}" for site, n in total.items()})
    for site in ("lymph_node", "subcutaneous"):
        assert total[site] > 0 and agree[site] >= 0.95 * total[site], (site, agree, total)


def test_bodycomp_reads_the_derived_masks(licence_free_run) -> None:
    workdir, truth = licence_free_run
    for patient, timepoint, _ in scans(truth):
        row = pd.read_csv(workdir / path(BODYCOMP, patient=patient, timepoint=timepoint), sep="\t").iloc[0]
        assert row.qc_status == "ok", (patient, timepoint, row.qc_reason)
        assert row.l3_sma_cm2 > 0 and row.l3_vat_cm2 > 0 and row.l3_sat_cm2 > 0
    assert not (workdir / "results" / "models").exists()
