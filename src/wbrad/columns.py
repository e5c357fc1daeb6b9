"""A declared table column (name, unit, description) and the key columns every per-scan table starts with; the
stages' declarations (bodycomp, lesions, burden columns) and the data dictionary are built from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column: its name, its unit (a word such as ``text``, ``category``, ``0/1`` or ``unitless`` where no
    physical unit applies) and what it holds."""

    name: str
    unit: str
    description: str


SCAN_KEYS = (
    Column("patient_id", "text", "study pseudonym"),
    Column("timepoint", "text", "timepoint of the scan (baseline, fu1, ...)"),
)
