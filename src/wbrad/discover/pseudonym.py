"""Study pseudonyms for the hospital's patient IDs, kept in a link table that only the config's path holds.

Everything downstream of discovery carries pseudonyms only; the link table (``original_patient_id``,
``patient_id``) is the single place where the two meet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from wbrad.io import atomic_path
from wbrad.study import StudyError

COLUMNS = ["original_patient_id", "patient_id"]


def read_link_table(path: str | Path) -> dict[str, str]:
    """original ID -> pseudonym; an empty mapping when the file does not exist yet."""
    path = Path(path)
    if not path.exists():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(table.columns) != COLUMNS:
        raise StudyError(f"link table {path}: expected columns {COLUMNS}, got {list(table.columns)}")
    for column in COLUMNS:
        if table[column].duplicated().any():
            raise StudyError(f"link table {path}: duplicated {column} values")
    return dict(zip(table.original_patient_id, table.patient_id, strict=True))


def assign(originals: list[str], links: dict[str, str], prefix: str = "WB") -> dict[str, str]:
    """``links`` plus a new pseudonym (``prefix`` and the next free number) for every unlinked original ID."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
    numbers = [int(m.group(1)) for p in links.values() if (m := pattern.match(p))]
    next_number = max(numbers, default=0) + 1
    links = dict(links)
    for original in sorted(set(originals) - set(links)):
        links[original] = f"{prefix}{next_number:04d}"
        next_number += 1
    return links


def write_link_table(links: dict[str, str], path: str | Path) -> None:
    """Write the link table atomically (CSV, sorted by pseudonym)."""
    table = pd.DataFrame(sorted(links.items(), key=lambda item: item[1]), columns=COLUMNS)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
