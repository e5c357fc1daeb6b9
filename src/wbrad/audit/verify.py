"""`wbrad audit --verify`: every result file checked against its integrity record, per patient and timepoint."""

from __future__ import annotations

import re
from pathlib import Path

from wbrad import study
from wbrad.audit.checks import BLOCKING, WARNING, Problem
from wbrad.integrity import FAILED_SCAN, LEFTOVER, verify_tree

# The folders a result lies in, most specific first: cohort and models before the per-patient folders they resemble.
SCOPES = (study.COHORT_DIR, study.MODEL_DIR, study.SCAN_DIR, study.PATIENT_DIR)


def _pattern(template: str) -> re.Pattern[str]:
    """A study folder template as a regex for the paths inside it (each ``{wildcard}`` one path component)."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "/")


PATTERNS = tuple(map(_pattern, SCOPES))


def scan_of(path: str | Path) -> tuple[str, str]:
    """``(patient, timepoint)`` of a path under ``results/`` by the study's folder templates; ``""`` for what is
    not a patient's (the cohort, the models) or not a scan's (a patient's own tables)."""
    for pattern in PATTERNS:
        if found := pattern.match(Path(path).as_posix()):
            return found.groupdict().get("patient", ""), found.groupdict().get("timepoint", "")
    return "", ""


def integrity_problems(results: Path = Path(study.RESULTS)) -> list[Problem]:
    """A blocking problem for every damaged, unrecorded or missing result file under ``results``, a warning for
    every leftover temporary file, and a warning ``recorded failure`` with its reason for every failed placeholder
    (a scan that failed, :mod:`wbrad.failures`: not damage), on its patient's and timepoint's row."""
    problems = []
    for finding in verify_tree(results) if results.is_dir() else []:
        patient, timepoint = scan_of(Path(study.RESULTS) / finding.path.relative_to(results))
        severity = WARNING if finding.kind in (LEFTOVER, FAILED_SCAN) else BLOCKING
        check = "recorded failure" if finding.kind == FAILED_SCAN else f"integrity ({finding.kind})"
        problems.append(Problem(patient, timepoint, check, severity, finding.detail))
    return problems
