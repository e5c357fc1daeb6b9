"""Snakemake with the real totalsegmentator backend and stand-in weights, on CPU: masks, metrics, report, preflight.

Needs TotalSegmentator's virtual environment (`make totalseg`, part of `make test`). One scan is segmented (about
1.5 minutes on 2 cores), so the module is marked slow.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad.synth import write_cohort

from ..conftest import REPO
from .conftest import snakemake, write_tiny_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

TOTALSEG_PYTHON = REPO / ".venv-totalseg" / "bin" / "python"
SCAN = "results/P001/baseline"


def use_totalsegmentator(workdir: Path, weights: str) -> None:
    """The tiny config plus the totalsegmentator backend on CPU with the given weights folder."""
    write_tiny_config(workdir)
    with open(workdir / "tiny.yaml", "a") as fh:
        fh.write("segmentation:\n  backend: totalsegmentator\n"
                 f"  totalsegmentator: {{weights: {weights}, fast: true, device: cpu, threads: 2, mem_mb: 4000}}\n")


@pytest.fixture(scope="module")
def totalseg_run(tmp_path_factory) -> Path:
    if not TOTALSEG_PYTHON.exists():
        pytest.skip(f"TotalSegmentator's virtual environment not found: {TOTALSEG_PYTHON} (run `make totalseg`)")
    workdir = tmp_path_factory.mktemp("totalseg_run")
    write_cohort(workdir / "cohort", n_patients=2, seed=0, size="tiny", pet_share=0.0)
    subprocess.run([str(TOTALSEG_PYTHON), "-m", "wbrad.testing.standin", "--weights",
                    str(workdir / "weights"), "--task", "total", "--fast"],
                   check=True, capture_output=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    use_totalsegmentator(workdir, "weights")
    snakemake(workdir, f"{SCAN}/bodycomp.tsv")
    return workdir


def test_totalsegmentator_masks_are_on_the_ct_grid(totalseg_run: Path) -> None:
    masks = sorted((totalseg_run / SCAN / "seg" / "total").glob("*.nii.gz"))
    assert len(masks) == 117  # every class of TotalSegmentator's `total` class map
    ct = sitk.ReadImage(str(totalseg_run / SCAN / "ct.nii.gz"))
    liver = sitk.ReadImage(str(totalseg_run / SCAN / "seg" / "total" / "liver.nii.gz"))
    assert liver.GetSize() == ct.GetSize() and liver.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(sitk.GetArrayViewFromImage(liver))) <= {0, 1}
    log = (totalseg_run / "logs/segment/P001_baseline.log").read_text(encoding="utf-8")
    assert "wbrad.bodycomp.backends.totalseg_runner" in log and "Predicting" in log


def test_bodycomp_consumes_the_masks(totalseg_run: Path) -> None:
    row = pd.read_csv(totalseg_run / SCAN / "bodycomp.tsv", sep="\t").iloc[0]
    liver = sitk.GetArrayFromImage(sitk.ReadImage(str(totalseg_run / SCAN / "seg/total/liver.nii.gz")))
    spacing = sitk.ReadImage(str(totalseg_run / SCAN / "ct.nii.gz")).GetSpacing()
    assert row.liver_ml == pytest.approx(liver.sum() * np.prod(spacing) / 1000)
    assert row.qc_status in {"ok", "failed"} and isinstance(row.qc_reason, str)  # stand-in masks: no anatomy
    assert (totalseg_run / SCAN / "qc/bodycomp.png").stat().st_size > 10_000


def test_qc_picture_is_in_the_report(totalseg_run: Path) -> None:
    snakemake(totalseg_run, "--report", "report.html", f"{SCAN}/bodycomp.tsv")
    assert "bodycomp.png" in (totalseg_run / "report.html").read_text(errors="ignore")


def test_missing_weights_stop_the_run_before_any_job(tmp_path: Path) -> None:
    write_cohort(tmp_path / "cohort", n_patients=2, seed=0, size="tiny", pet_share=0.0)
    use_totalsegmentator(tmp_path, "no_weights")
    start = time.monotonic()
    result = snakemake(tmp_path, check=False)
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "segmentation preflight failed" in output
    assert "Dataset297_TotalSegmentator_total_3mm_1559subj" in output and "totalseg_download_weights" in output
    assert not (tmp_path / "results").exists() and elapsed < 60, elapsed
