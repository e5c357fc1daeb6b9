"""`wbrad discover`: index a DICOM export, pseudonymise, select series and timepoints, grow the manifest."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from wbrad.discover.index import index_export
from wbrad.discover.pseudonym import assign, read_link_table, write_link_table
from wbrad.discover.select import Rules, Selection, select
from wbrad.io import write_tsv
from wbrad.study import MANIFEST_KEY, read_manifest_sheet, read_registry, schema


def _therapy_start(registry: str | Path, registry_format: dict[str, str] | None) -> dict[str, dt.date]:
    table = read_registry(Path(registry), fmt=registry_format)
    return {
        pid: dt.date.fromisoformat(str(day)) for pid, day in zip(table.patient_id, table.therapy_start, strict=True)
    }


def _relative(rows: list[dict], base: Path) -> pd.DataFrame:
    """Manifest rows with paths relative to the manifest's folder."""
    table = pd.DataFrame(rows, columns=list(schema("manifest")["properties"]))
    for column in ("image", "lesions"):
        table[column] = [os.path.relpath(p, base) if p else "" for p in table[column]]
    return table


def grow_manifest(new: pd.DataFrame, manifest: Path) -> pd.DataFrame:
    """The existing manifest plus the rows of scans it lacks; existing rows are never changed."""
    if not manifest.exists():
        return new.sort_values(MANIFEST_KEY, ignore_index=True)
    old = read_manifest_sheet(manifest)
    known = set(map(tuple, old[MANIFEST_KEY].values))
    added = new[[tuple(k) not in known for k in new[MANIFEST_KEY].values]]
    return pd.concat([old, added], ignore_index=True).sort_values(MANIFEST_KEY, ignore_index=True)


def discover(
    root: str | Path,
    registry: str | Path,
    manifest: str | Path,
    link_table: str | Path,
    rules: Rules = Rules(),
    registry_format: dict[str, str] | None = None,
) -> Selection:
    """Index ``root``, extend the link table and ``manifest``; ambiguous cases go to ``<manifest>.ambiguous.tsv``.

    Only pseudonyms leave this function's files; the hospital IDs stay in ``link_table``. ``registry_format`` is the
    config's (how the registry CSV is written).
    """
    manifest = Path(manifest)
    therapy_start = _therapy_start(registry, registry_format)  # a registry problem stops before any file is read
    index = index_export(root)
    links = read_link_table(link_table)
    grown = assign(index.original_patient_id.unique().tolist(), links)
    if grown != links:
        write_link_table(grown, link_table)
    selection = select(index, therapy_start, grown, rules)
    write_tsv(grow_manifest(_relative(selection.rows, manifest.parent), manifest), manifest)
    write_tsv(
        pd.DataFrame(selection.ambiguous, columns=["patient_id", "study_date", "reason"]),
        manifest.with_suffix(".ambiguous.tsv"),
    )
    return selection
