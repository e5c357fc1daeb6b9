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

from wbrad import integrity

from ..conftest import REPO
from .conftest import write_tiny_config

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

CLUSTER = REPO / "tests/slurm/cluster.sh"
TEST_SETTINGS = [  # the profile's placeholders, filled in as a site would; quick polling; segment asks for a GPU as
    # a model backend's does (the tiny cohort's precomputed masks need none)
    "--default-resources", "slurm_account=wbrad", "slurm_partition=wbrad", "mem_mb=500", "runtime=30",
    "--set-resources", "segment:gpu=1",
    "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
    "--latency-wait", "5", "--retries", "0",
]


def _run_in_group(command: list[str], timeout: float, **kwargs) -> tuple[subprocess.CompletedProcess, bool]:
    """Run in a process group that is SIGKILLed (with its children) after ``timeout`` seconds; the result (its output
    so far) and whether it was killed."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                          errors="replace", start_new_session=True, **kwargs) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
            killed = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            killed = True
    return subprocess.CompletedProcess(command, process.returncode, output, ""), killed


def run_killed_after(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run in a process group that is SIGKILLed (with its children) after ``timeout`` seconds, failing the test."""
    result, killed = _run_in_group(command, timeout, **kwargs)
    if killed:
        pytest.fail(f"killed after {timeout} s: {' '.join(command)}\n{result.stdout[-4000:]}")
    return result


@pytest.fixture(scope="session")
def slurm_env() -> dict[str, str]:
    """The clients' environment for the test cluster, which must be up already (`tests/slurm/cluster.sh start`; CI
    starts it). Skips within seconds when SLURM is not installed or the cluster is stopped or does not answer.

    Session-scoped and listed first by the tests, so that it is checked before the (slow) tiny_run fixture runs. The
    config is where cluster.sh writes it and SLURM looks by default (`cluster.sh conf`), whatever SLURM_CONF said.
    """
    if shutil.which("sinfo") is None:
        pytest.skip("SLURM is not installed: as root, tests/slurm/cluster.sh install, then tests/slurm/cluster.sh "
                    "start")
    conf = subprocess.run([str(CLUSTER), "conf"], capture_output=True, text=True, check=True, timeout=10).stdout
    env = {**os.environ, "SLURM_CONF": conf.strip()}
    status, killed = _run_in_group([str(CLUSTER), "status"], timeout=30, env=env)
    if killed:
        pytest.skip(f"the SLURM test cluster did not answer within 30 s (tests/slurm/cluster.sh status): "
                    f"{status.stdout.strip()}")
    if status.returncode != 0:
        pytest.skip(f"no SLURM test cluster up: {status.stdout.strip()}")
    return env


def slurm_snakemake(workdir: Path, env: dict[str, str], *args: str, timeout: float = 900):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--profile", str(REPO / "profiles/slurm"), "--configfile", str(REPO / "config.yaml"),
               str(workdir / "tiny.yaml"), *TEST_SETTINGS, *args]
    return run_killed_after(command, timeout=timeout, env=env, cwd=workdir)


def finished_jobs(env: dict[str, str]) -> list[dict[str, str]]:
    """Every job the controller still knows (MinJobAge keeps finished ones for 300 s), as key=value fields."""
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner"], env=env, capture_output=True, text=True,
                           encoding="utf-8", errors="replace", timeout=30).stdout
    return [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in shown.splitlines() if line]


def test_a_new_patient_runs_end_to_end_on_slurm_with_the_gpu_rule_on_a_gres(slurm_env, tiny_run: Path,
                                                                           tmp_path: Path):
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


def test_a_scan_that_fails_on_a_node_is_recorded_as_its_failure(slurm_env, tiny_run: Path, tmp_path: Path):
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
    assert result.returncode == 0, result.stdout[-4000:]  # the SLURM job ran and recorded the scan's data error
    failure = integrity.failure_of(workdir / target)
    assert failure is not None and failure.stage == "convert_ct" and "broken_ct.nii.gz" in failure.reason, failure
