"""What Snakemake would run: its dry-run (``-n``) job list, parsed into one record per job."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

_RULE = re.compile(r"^\s*(?:local)?rule (\S+):$")  # indented inside a group job's block
_FIELD = re.compile(r"^\s+(\w+): (.*)$")


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry-run: its rule, wildcards, Snakemake's reason, resources (threads, runtime in minutes) and
    outputs."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    threads: int = 1
    resources: dict[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        """The rule and its wildcard values, e.g. ``("lesions", "P001", "baseline", "ct")``."""
        return (self.rule, *self.wildcards.values())

    def resource(self, name: str, default: float = 0.0) -> float:
        """A numeric resource (``runtime`` in minutes, ``gpu``, ``mem_mb``); ``default`` when absent or not numeric."""
        try:
            return float(self.resources[name])
        except (KeyError, ValueError):
            return default


def _pairs(text: str) -> dict[str, str]:
    """``a=1, b=x`` -> ``{"a": "1", "b": "x"}`` (Snakemake's wildcards and resources lines)."""
    return dict(item.split("=", 1) for item in text.split(", ") if "=" in item)


def parse_dry_run(text: str) -> list[PlannedJob]:
    """The jobs of a ``snakemake -n`` log, in the order printed."""
    jobs: list[PlannedJob] = []
    current: dict[str, str] | None = None
    rule = ""
    for line in text.splitlines():
        if match := _RULE.match(line):
            if current is not None:
                jobs.append(_job(rule, current))
            rule, current = match.group(1), {}
        elif current is not None and (match := _FIELD.match(line)):
            current[match.group(1)] = match.group(2)
        elif current is not None and not line.startswith(" "):
            jobs.append(_job(rule, current))
            current = None
    if current is not None:
        jobs.append(_job(rule, current))
    return jobs


def _job(rule: str, fields: dict[str, str]) -> PlannedJob:
    return PlannedJob(
        rule=rule,
        wildcards=_pairs(fields.get("wildcards", "")),
        reason=fields.get("reason", ""),
        threads=int(fields.get("threads", 1)),
        resources=_pairs(fields.get("resources", "")),
        outputs=tuple(fields["output"].split(", ")) if fields.get("output") else (),
    )


def dry_run(snakemake_args: list[str], cwd: Path | None = None, timeout: float = 600) -> list[PlannedJob]:
    """Run ``snakemake -n`` with ``snakemake_args`` (snakefile, directory, config...) and return its planned jobs.

    Nothing is executed. Raises ``RuntimeError`` with Snakemake's message when the workflow cannot be planned.
    """
    command = [sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", *snakemake_args]
    result = subprocess.run(
        command, capture_output=True, text=True, encoding="utf-8", errors="replace", cwd=cwd, timeout=timeout
    )
    if result.returncode != 0:
        message = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        raise RuntimeError(f"snakemake dry-run failed: {' '.join(message[-3:])}")
    return parse_dry_run(result.stdout + result.stderr)
