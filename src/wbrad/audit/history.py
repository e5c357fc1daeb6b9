"""Past jobs' wall time and memory, from the benchmark files every rule writes (logs/benchmark/<rule>/<job>.tsv)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from wbrad.workflow import FINISHED_CPU

BENCHMARKS = Path("logs/benchmark")


def read_benchmarks(folder: Path = BENCHMARKS, per_rule: int | None = None) -> pd.DataFrame:
    """One row per benchmarked job: rule, wall seconds ``s`` and peak RSS ``max_rss`` (MB).

    ``per_rule`` reads only that many files per rule (the newest), enough for a typical value at any study size.
    A file directly under ``folder`` is a rule of its own (``cohort.tsv``).
    """
    rows = []
    for rule, paths in _files_by_rule(folder).items():
        newest = sorted(paths, key=lambda p: p.stat().st_mtime, reverse=True)[:per_rule]
        for path in newest:
            with path.open(encoding="utf-8", newline="") as handle:
                for record in csv.DictReader(handle, delimiter="\t"):
                    rows.append({"rule": rule, "s": float(record["s"]), "max_rss": _number(record.get("max_rss"))})
    return pd.DataFrame(rows, columns=["rule", "s", "max_rss"])


def typical_seconds(folder: Path = BENCHMARKS, per_rule: int = 50) -> dict[str, float]:
    """The median wall seconds of each rule's recent jobs; rules never run here are absent."""
    return read_benchmarks(folder, per_rule).groupby("rule").s.median().to_dict()


def _files_by_rule(folder: Path) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for path in folder.rglob("*.tsv") if folder.is_dir() else []:
        files.setdefault(path.parent.name if path.parent != folder else path.stem, []).append(path)
    return files


def _number(text: str | None) -> float:
    try:
        return float(text)  # Snakemake writes "NA" where it could not measure
    except (TypeError, ValueError):
        return float("nan")


def logged_cpu(log: Path) -> float:
    """The CPU seconds a job's log reports on its last line (:func:`wbrad.workflow.rule_logging`); NaN without one."""
    found = FINISHED_CPU.findall(log.read_text(errors="replace")) if log.is_file() else []
    return float(found[-1]) if found else float("nan")
