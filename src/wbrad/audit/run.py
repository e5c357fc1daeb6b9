"""The audit: study checks and Snakemake's plan, per patient and timepoint, as a printed table, TSV and HTML."""

from __future__ import annotations

import contextlib
import html
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from snakemake.utils import update_config, validate

from wbrad.audit.checks import BLOCKING, Problem, study_problems
from wbrad.audit.dryrun import PlannedJob, dry_run
from wbrad.audit.history import BENCHMARKS, typical_seconds
from wbrad.audit.verify import integrity_problems
from wbrad.io import atomic_path, write_tsv
from wbrad.study import read_manifest, read_registry

STUDY, PATIENT = "(study)", "(patient)"
PRINT_ROWS = 40


@dataclass
class Audit:
    table: pd.DataFrame  # one row per patient and timepoint, per-patient jobs under PATIENT, cohort jobs under STUDY
    problems: list[Problem]
    jobs: int  # jobs Snakemake would run
    seconds: float
    plan_error: str = ""  # why Snakemake could not plan the run, if it could not
    estimated_from: str = "requested runtime"  # where the hours come from, per rule

    @property
    def blocking(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == BLOCKING]


def load_config(configfiles: list[Path], schema: Path) -> dict[str, Any]:
    """The configfiles merged in order (later ones override keys, as in Snakemake), validated, defaults filled in."""
    config: dict[str, Any] = {}
    for path in configfiles:
        update_config(config, yaml.safe_load(path.read_text()) or {})
    validate(config, str(schema), set_default=True)
    return config


def _short(reason: str) -> str:
    """Snakemake's reasons without their file lists: 'Missing output files: a; Params have changed...' ->
    'Missing output files + Params have changed...'."""
    return " + ".join(part.split(":", 1)[0].strip() for part in reason.split("; "))


def job_hours(job: PlannedJob, typical_s: dict[str, float]) -> float:
    """Hours one job is expected to take: its rule's median from past runs, else its requested ``runtime``."""
    return typical_s[job.rule] / 3600 if job.rule in typical_s else job.resource("runtime") / 60


def _hours(jobs: list[PlannedJob], typical_s: dict[str, float], per_job: Callable[[PlannedJob], float]) -> float:
    return round(sum(per_job(job) * job_hours(job, typical_s) for job in jobs), 4)


def _applies(problem: Problem, patient: str, timepoint: str) -> bool:
    """Study-wide problems go to the study row, a patient's or a scan's to that patient's scan rows."""
    if patient == STUDY:
        return problem.patient == ""
    return problem.patient == patient and problem.timepoint in (timepoint, "") and timepoint != PATIENT


def plan_table(scans: pd.DataFrame, jobs: list[PlannedJob], problems: list[Problem],
               typical_s: dict[str, float] | None = None) -> pd.DataFrame:
    """Rows per scan (patient, timepoint), per patient and for the study: its problems, jobs, reasons, CPU/GPU hours
    (threads or GPUs times the hours of ``job_hours``)."""
    typical_s = typical_s or {}
    by_row: dict[tuple[str, str], list[PlannedJob]] = {}
    for job in jobs:
        patient = job.wildcards.get("patient", STUDY)
        by_row.setdefault((patient, job.wildcards.get("timepoint", PATIENT if patient != STUDY else "")), []).append(
            job
        )
    keys = [*dict.fromkeys(map(tuple, scans[["patient_id", "timepoint"]].values)), *by_row, (STUDY, "")]
    rows = []
    for patient, timepoint in dict.fromkeys(keys):
        row_jobs = by_row.get((patient, timepoint), [])
        row_problems = [p for p in problems if _applies(p, patient, timepoint)]
        rows.append(
            {
                "patient_id": patient,
                "timepoint": timepoint,
                "problems": "; ".join(f"{p.check}: {p.detail}" for p in row_problems) or "none",
                "jobs": ", ".join(sorted({j.rule for j in row_jobs})) or "none",
                "reasons": "; ".join(sorted({f"{j.rule}: {_short(j.reason)}" for j in row_jobs})),
                "cpu_hours": _hours(row_jobs, typical_s, lambda j: j.threads),
                "gpu_hours": _hours(row_jobs, typical_s, lambda j: j.resource("gpu")),
            }
        )
    return pd.DataFrame(rows)


def run_audit(configfiles: list[Path], directory: Path, snakefile: Path, snakemake_args: Sequence[str] = (),
              verify: bool = False) -> Audit:
    """Check the study of ``configfiles`` (paths relative to ``directory``) and plan it with a Snakemake dry-run;
    with ``verify``, also check every result file against its integrity record (``audit.verify``).

    The dry-run (a Snakemake process) runs while the study is checked here.
    """
    start = time.perf_counter()
    args = [
        "--snakefile",
        str(snakefile),
        "--directory",
        str(directory),
        "--configfile",
        *map(str, configfiles),
        *snakemake_args,
    ]
    with ThreadPoolExecutor(max_workers=1) as pool:
        planned = pool.submit(dry_run, args, cwd=Path.cwd())  # its own cwd: the checks below change this process's
        config = load_config(configfiles, snakefile.parent / "schemas/config.schema.yaml")
        with contextlib.chdir(directory):  # the study's paths are relative to Snakemake's working directory
            manifest = read_manifest(config["manifest"], snakefile.parent).reset_index(drop=True)
            problems = study_problems(
                config, manifest, read_registry(config["registry"], snakefile.parent, config.get("registry_format"))
            )
            problems += integrity_problems() if verify else []
        try:
            jobs, plan_error = planned.result(), ""
        except RuntimeError as error:  # explained by the blocking problems found, or a problem of its own
            jobs, plan_error = [], str(error)
            if not any(p.severity == BLOCKING for p in problems):
                problems.append(Problem("", "", "workflow", BLOCKING, plan_error))
    typical_s = typical_seconds(directory / BENCHMARKS)
    table = plan_table(manifest, jobs, problems, typical_s)
    return Audit(table, problems, len(jobs), time.perf_counter() - start, plan_error, estimate_sources(jobs, typical_s))


def estimate_sources(jobs: list[PlannedJob], typical_s: dict[str, float]) -> str:
    """Which planned rules' hours come from past runs (their median wall time) and which from the requested runtime
    (rules that request none, like ``all``, count as nothing)."""
    requests = {job.rule: job.resource("runtime") for job in jobs}
    past = sorted(rule for rule in requests if rule in typical_s)
    requested = sorted(rule for rule, runtime in requests.items() if rule not in typical_s and runtime)
    parts = ([f"past runs' median for {', '.join(past)}"] if past else []) + (
        [f"requested runtime for {', '.join(requested)}"] if requested else []
    )
    return "; ".join(parts) or "no jobs"


def write_audit(audit: Audit, out: Path) -> tuple[Path, Path]:
    """``audit.tsv`` (the per-scan table), ``problems.tsv`` and ``audit.html`` (problems and table) under ``out``."""
    write_tsv(audit.table, out / "audit.tsv")
    problems = pd.DataFrame([asdict(p) for p in audit.problems], columns=list(Problem.__dataclass_fields__))
    write_tsv(problems, out / "problems.tsv")
    page = (
        f"<!doctype html><meta charset='utf-8'><title>wbrad audit</title><h1>wbrad audit</h1>"
        f"<p>{len(audit.problems)} problems ({len(audit.blocking)} blocking); "
        f"{html.escape(summary_line(audit))}</p><h2>Problems</h2>{problems.to_html(index=False)}"
        f"<h2>Per patient and timepoint</h2>{audit.table.to_html(index=False)}"
    )
    with atomic_path(out / "audit.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out / "audit.tsv", out / "audit.html"


def summary_line(audit: Audit) -> str:
    table = audit.table
    if audit.plan_error:
        return f"Snakemake could not plan the run: {audit.plan_error} (audited in {audit.seconds:.1f} s)"
    return (
        f"{audit.jobs} jobs to run, "
        f"{table.cpu_hours.sum():.2f} CPU hours, {table.gpu_hours.sum():.2f} GPU hours "
        f"(estimated from {audit.estimated_from}), "
        f"audited in {audit.seconds:.1f} s"
    )


def render(audit: Audit) -> str:
    """A readable summary: problems, then the first rows of the per-scan table."""
    lines = [f"{len(audit.problems)} problems ({len(audit.blocking)} blocking)"]
    lines += [
        f"  [{p.severity}] {p.patient or 'all'} {p.timepoint or ''} {p.check}: {p.detail}" for p in audit.problems
    ]
    shown = audit.table[["patient_id", "timepoint", "jobs", "cpu_hours", "gpu_hours", "problems"]]
    lines += ["", shown.head(PRINT_ROWS).to_string(index=False, max_colwidth=60)]
    if len(shown) > PRINT_ROWS:
        lines.append(f"... {len(shown) - PRINT_ROWS} more rows in the TSV and HTML")
    lines.append(summary_line(audit))
    return "\n".join(lines)
