"""Wall time, CPU time and peak memory per rule, from the benchmark files every rule writes under logs/benchmark/.

Run after a pipeline run (make demo): `python benchmarks/job_resources.py logs/benchmark`. The table is what a site
needs to size its cluster requests (mem_mb, runtime) for a study of its own size; ``median_cpu_s`` is the per-job
overhead that issue 16 tracks (the median over all jobs is printed last).

``cpu_time`` is Snakemake's last sample of the job's processes (at its start, every 0.5 s for 15 s, then every 30 s):
a lower bound that misses up to the last 0.5 s of a short job, which matters most for sub-second ones. ``cpu_s`` is
exact: the job's own count (``wbrad.workflow.process_usage``) on the last line of its log, ``logs/<rule>/<job>.log``
beside ``logs/benchmark/<rule>/<job>.tsv``; NaN where the log has none (a job that failed, or ran before it was added).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from wbrad.audit.history import logged_cpu


def read_jobs(folder: Path) -> pd.DataFrame:
    """One row per benchmark file: rule (its folder; a file directly under ``folder`` is a rule of its own), wall
    seconds ``s``, ``cpu_time`` and ``max_rss`` (MB), as Snakemake's ``benchmark:`` writes them, and ``cpu_s`` from
    the job's log."""
    rows = []
    for path in sorted(folder.rglob("*.tsv")) if folder.is_dir() else []:
        rule = path.parent.name if path.parent != folder else path.stem
        table = pd.read_csv(path, sep="\t", na_values=["-", "NA"])
        cpu_s = logged_cpu(folder.parent / path.relative_to(folder).with_suffix(".log"))
        rows += [{"rule": rule, **r, "cpu_s": cpu_s} for r in table[["s", "cpu_time", "max_rss"]].to_dict("records")]
    return pd.DataFrame(rows, columns=["rule", "s", "cpu_time", "max_rss", "cpu_s"])


def job_resources(folder: Path) -> pd.DataFrame:
    """One row per rule: jobs, total and mean wall seconds, largest wall seconds, median CPU seconds (Snakemake's
    sampled ``cpu_time`` and the job's own ``cpu_s``), peak RSS (MB)."""
    jobs = read_jobs(folder)
    if jobs.empty:
        raise SystemExit(f"no benchmark files under {folder}: run the pipeline first (make demo)")
    return jobs.groupby("rule").agg(jobs=("s", "size"), total_s=("s", "sum"), mean_s=("s", "mean"),
                                    max_s=("s", "max"), median_cpu_time=("cpu_time", "median"),
                                    median_cpu_s=("cpu_s", "median"),
                                    max_rss_mb=("max_rss", "max")).round(2)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "logs/benchmark")
    table = job_resources(folder)
    print(table.sort_values("total_s", ascending=False).to_string())
    jobs = read_jobs(folder)
    print(f"\nall jobs: {len(jobs)}, CPU-side wall time summed over jobs: {table.total_s.sum():.0f} s, "
          f"median CPU time per job: {jobs.cpu_time.median():.2f} s sampled (summed {jobs.cpu_time.sum():.0f} s), "
          f"{jobs.cpu_s.median():.2f} s counted by the jobs (summed {jobs.cpu_s.sum():.0f} s, "
          f"{jobs.cpu_s.count()} jobs)")
    short = jobs.s < 1
    print(f"{short.sum()} jobs ran under 1 s wall: their cpu_time (median {jobs.cpu_time[short].median():.2f} s) "
          "misses what they spent after Snakemake's last 0.5-s sample")
