"""The workflow on a real one-node SLURM cluster (tests/slurm/cluster.sh) through `snakemake --profile profiles/slurm`.

Every SLURM command runs under a hard kill timeout: without accounting, a misconfigured status query makes Snakemake
loop on "No active jobs" forever, ignoring SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import REPO
from .conftest import write_tiny_config

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

CLUSTER = REPO / "tests/slurm/cluster.sh"
SLURM_DIR = Path(os.environ.get("WBRAD_SLURM_DIR", "/tmp/wbrad-slurm"))
TEST_SETTINGS = [  # the profile's placeholders, filled in as a site would; quick polling; segment asks for a GPU as
    # a model backend's does (the tiny cohort's precomputed masks need none)
    "--default-resources", "slurm_account=wbrad", "slurm_partition=wbrad", "mem_mb=500", "runtime=30",
    "--set-resources", "segment:gpu=1",
    "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
    "--latency-wait", "5", "--retries", "0",
]


def run_killed_after(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run in a process group that is SIGKILLed (with its children) after ``timeout`` seconds."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace",
                          start_new_session=True, **kwargs) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            pytest.fail(f"killed after {timeout} s: {' '.join(command)}\n{output[-4000:]}")
    return subprocess.CompletedProcess(command, process.returncode, output, "")


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    """A running cluster (started here and stopped after the module unless it was already up); the clients' env."""
    if shutil.which("sbatch") is None and os.geteuid() != 0:
        pytest.skip("SLURM is not installed and installing it needs root: run tests/slurm/cluster.sh install")
    env = {**os.environ, "SLURM_CONF": str(SLURM_DIR / "slurm.conf")}
    already_up = shutil.which("sinfo") is not None and subprocess.run(
        ["sinfo"], env=env, capture_output=True, timeout=10).returncode == 0
    started = run_killed_after([str(CLUSTER), "start"], timeout=900, env=env)
    assert started.returncode == 0, started.stdout
    yield env
    if not already_up:
        run_killed_after([str(CLUSTER), "stop"], timeout=60, env=env)


def slurm_snakemake(workdir: Path, env: dict[str, str], *args: str, timeout: float = 900):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--profile", str(REPO / "profiles/slurm"), "--configfile", str(REPO / "config.yaml"),
               str(workdir / "tiny.yaml"), *TEST_SETTINGS, *args]
    return run_killed_after(command, timeout=timeout, env=env, cwd=workdir)


def finished_jobs(env: dict[str, str]) -> list[dict[str, str]]:
    """Every job the controller still knows (MinJobAge keeps finished ones for 300 s), as key=value fields."""
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner"], env=env, capture_output=True, text=True, encoding="utf-8", errors="replace",
                           timeout=30).stdout
    return [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in shown.splitlines() if line]


def test_a_new_patient_runs_end_to_end_on_slurm_with_the_gpu_rule_on_a_gres(tiny_run: Path, tmp_path: Path,
                                                                           slurm_env):
    """One PET patient's results are removed from a finished run: SLURM reruns every rule for it, then the cohort."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    manifest = pd.read_csv(workdir / "cohort/manifest.tsv", sep="\t")
    patient = sorted(manifest.loc[manifest.modality == "PT", "patient_id"])[0]
    shutil.rmtree(workdir / "results" / patient)

    result = slurm_snakemake(workdir, slurm_env)
    assert result.returncode == 0, result.stdout[-6000:]
    for rule in ("convert_ct", "convert_pet", "segment", "bodycomp", "lesions", "delta", "cohort", "model"):
        assert f"rule {rule}:" in result.stdout, rule
    assert (workdir / "results" / patient / "delta.tsv").exists()
    gpu_jobs = [job for job in finished_jobs(slurm_env) if "gpu" in job.get("TresPerJob", "")]
    assert gpu_jobs and {job["JobState"] for job in gpu_jobs} == {"COMPLETED"}
    assert all(job.get("Comment", "").startswith(("rule_segment", "rule_scan")) for job in gpu_jobs), gpu_jobs


def test_a_failing_rule_is_reported_as_failed(tiny_run: Path, tmp_path: Path, slurm_env):
    workdir = tmp_path / "broken"
    shutil.copytree(tiny_run / "cohort", workdir / "cohort")
    write_tiny_config(workdir)
    broken = workdir / "cohort/images" / "broken_ct.nii.gz"
    broken.write_text("not an image")
    manifest = pd.read_csv(workdir / "cohort/manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    first = manifest.iloc[0]
    manifest.loc[manifest.index[0], "image"] = "images/broken_ct.nii.gz"
    manifest.to_csv(workdir / "cohort/manifest.tsv", sep="\t", index=False)

    target = f"results/{first.patient_id}/{first.timepoint}/ct.nii.gz"
    result = slurm_snakemake(workdir, slurm_env, target, timeout=300)
    assert result.returncode != 0
    assert "Error in rule convert_ct" in result.stdout or "Error in group scan" in result.stdout, result.stdout[-4000:]
    assert not (workdir / target).exists()
