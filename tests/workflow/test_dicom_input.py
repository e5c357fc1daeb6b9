"""The workflow from a DICOM export: same cohort table as from NIfTI, no identities in outputs, clear failures."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from wbrad import integrity
from wbrad.synth import write_cohort

from .conftest import snakemake, write_tiny_config

pytestmark = pytest.mark.workflow
COHORT = "results/cohort/cohort.tsv"


@pytest.fixture(scope="module")
def dicom_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One synthetic cohort (with its DICOM export) run to the cohort table from NIfTI and from DICOM."""
    nifti = tmp_path_factory.mktemp("from_nifti")
    write_cohort(nifti / "cohort", n_patients=4, seed=1, size="tiny", pet_share=0.5, dicom=True)
    write_tiny_config(nifti)
    dicom = tmp_path_factory.mktemp("from_dicom")
    (dicom / "cohort").symlink_to(nifti / "cohort")
    write_tiny_config(dicom)
    snakemake(nifti, COHORT)
    snakemake(dicom, COHORT, "--config", "manifest=cohort/manifest_dicom.tsv")
    return nifti, dicom


def test_dicom_run_gives_the_nifti_cohort_table(dicom_runs: tuple[Path, Path]) -> None:
    nifti, dicom = (pd.read_csv(run / COHORT, sep="\t") for run in dicom_runs)
    assert list(nifti.columns) == list(dicom.columns) and len(nifti) == 4
    numeric = nifti.select_dtypes("number").columns
    pd.testing.assert_frame_equal(nifti.drop(columns=numeric), dicom.drop(columns=numeric))
    burden = [c for c in numeric if "burden_" in c]
    pet = [c for c in numeric if "pet_" in c]
    ct = numeric.difference(pet + burden)
    np.testing.assert_allclose(dicom[ct], nifti[ct], rtol=1e-3, atol=1e-6)  # CT and lesion masks are identical
    # the PET differs by its int16 storage (per-slice slope, about 3e-4 SUV at SUV 10), so a change between two
    # near-equal PET values (delta_) is compared in absolute terms
    np.testing.assert_allclose(dicom[pet], nifti[pet], rtol=1e-3, atol=5e-4)
    # and that can move a voxel across the SUV 4 threshold of the tumour burden (one 8 mm voxel of the tiny PET is
    # 0.5 ml of a TMTV of tens of ml)
    for columns, atol in (([c for c in burden if "_rel_" in c], 0.05), ([c for c in burden if "_rel_" not in c], 1.0)):
        np.testing.assert_allclose(dicom[columns], nifti[columns], rtol=0.05, atol=atol)


def test_no_identity_in_any_output(dicom_runs: tuple[Path, Path]) -> None:
    workdir = dicom_runs[1]
    truth = json.loads((workdir / "cohort" / "truth.json").read_text())
    identities = [p["dicom_identity"] for p in truth["patients"].values()]
    # hospital ID, accession number (A + the ID's digits), birth date, full name, and in text files each name part
    secrets = {s for who in identities for s in (who["patient_id"], f"A{who['patient_id'][1:]}", who["birth_date"],
                                                 who["name"], who["name"].replace("^", " "))}
    name_parts = {part for who in identities for part in who["name"].split("^")}
    files = [p for folder in ("results", "logs", ".snakemake/log") for p in (workdir / folder).rglob("*")
             if p.is_file()]
    assert len(files) > 100 and not [p for p in files for s in secrets | name_parts if s in str(p.relative_to(workdir))]
    leaks = [(p, s) for p in files for s in secrets if s.encode() in _content(p)]
    leaks += [(p, s) for p in files if p.suffix in (".tsv", ".json", ".log", ".txt", ".csv")
              for s in name_parts if s in p.read_text(errors="replace")]
    assert not leaks


def _content(path: Path) -> bytes:
    """File bytes, decompressed for .gz (NIfTI headers and extensions)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_malformed_cases_are_recorded_clearly_and_others_complete(dicom_runs: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    shutil.copytree(dicom_runs[0] / "cohort", cohort, symlinks=True)
    write_tiny_config(tmp_path)
    manifest = pd.read_csv(cohort / "manifest_dicom.tsv", sep="\t")
    pets = manifest[manifest.modality == "PT"]
    broken = {}
    (pet_a, tp_a), (pet_b, tp_b) = pets[["patient_id", "timepoint"]].values[:2]
    _edit_first(cohort / f"images/{pet_a}/{tp_a}/dicom/pet", lambda ds: delattr(ds, "PatientWeight"))
    broken[(pet_a, tp_a, "convert_pet")] = r"PatientWeight \(0010,1030\) is missing"
    _edit_first(cohort / f"images/{pet_b}/{tp_b}/dicom/pet", lambda ds: setattr(ds, "Units", "PROPCPS"))
    broken[(pet_b, tp_b, "convert_pet")] = r"Units \(0054,1001\) is 'PROPCPS'"
    ct_only = manifest[(manifest.modality == "CT") & ~manifest.patient_id.isin([pet_a, pet_b])]
    pid, tp = ct_only[["patient_id", "timepoint"]].values[0]
    sorted((cohort / f"images/{pid}/{tp}/dicom/ct").iterdir())[3].unlink()
    broken[(pid, tp, "convert_ct")] = r"1 missing slice\(s\)"
    targets = [f"results/{p}/{t}/{'lesions_pet' if m == 'PT' else 'lesions_ct'}.tsv"
               for p, t, m in manifest[["patient_id", "timepoint", "modality"]].values]
    result = snakemake(tmp_path, *targets, "--keep-going", "--config", "manifest=cohort/manifest_dicom.tsv",
                       check=False)
    assert result.returncode == 0, result.stderr[-3000:]  # data errors are recorded failures: the run completes
    for (p, t, rule), message in broken.items():
        log = (tmp_path / f"logs/{rule}/{p}_{t}.log").read_text()
        assert re.search(rf"{p} {t} .*{message}", log), log[-2000:]
    failed = {(p, t, "PT" if rule == "convert_pet" else m): (rule, message)
              for p, t, rule, message in ((*k, v) for k, v in broken.items()) for m in ("CT", "PT")}
    keys = map(tuple, manifest[["patient_id", "timepoint", "modality"]].values)
    for target, key in zip(targets, keys, strict=True):
        failure = integrity.failure_of(tmp_path / target)
        assert (tmp_path / target).exists() and (failure is not None) == (key in failed), target
        if failure is not None:  # the stage and the reason that stopped the scan, passed on to its lesion table
            assert failure.stage == failed[key][0] and re.search(failed[key][1], failure.reason), failure
    assert 0 < len(failed) <= 4


def _edit_first(folder: Path, change) -> None:
    """Apply ``change`` to every instance of a series (series-level tags must stay consistent)."""
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        change(ds)
        ds.save_as(path)
