"""Wall time and peak memory per rule, from the benchmark files every rule writes under logs/benchmark/.

Run after a pipeline run (make demo): `python benchmarks/job_resources.py logs/benchmark`. The table is what a site
needs to size its cluster requests (mem_mb, runtime) for a study of its own size.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from wbrad.audit.history import read_benchmarks


def job_resources(folder: Path) -> pd.DataFrame:
    """One row per rule: jobs, total and mean wall seconds, largest wall seconds and peak RSS (MB)."""
    jobs = read_benchmarks(folder)
    if jobs.empty:
        raise SystemExit(f"no benchmark files under {folder}: run the pipeline first (make demo)")
    return jobs.groupby("rule").agg(jobs=("s", "size"), total_s=("s", "sum"), mean_s=("s", "mean"),
                                    max_s=("s", "max"), max_rss_mb=("max_rss", "max")).round(2)


if __name__ == "__main__":
    table = job_resources(Path(sys.argv[1] if len(sys.argv) > 1 else "logs/benchmark"))
    print(table.sort_values("total_s", ascending=False).to_string())
    print(f"\nall jobs: {int(table.jobs.sum())}, CPU-side wall time summed over jobs: {table.total_s.sum():.0f} s")
