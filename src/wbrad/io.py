"""Small shared file helpers: atomic writes with integrity records, TSV and JSON in the project's conventions.

Every atomic write leaves the file's record ``<file>.sha256`` (a folder: ``<folder>.sha256``), see
:mod:`wbrad.integrity`; ``read_tsv`` and ``read_json`` check it before parsing. ``write_placeholder`` writes the failed
placeholder of a scan that failed (:mod:`wbrad.failures`).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wbrad import integrity

if TYPE_CHECKING:  # pandas is imported by the table readers and writers only: an image job does not need it
    import pandas as pd

log = logging.getLogger(__name__)

NA = "NA"


def _write_record(path: Path, record: dict[str, Any]) -> None:
    with atomic_path(integrity.sidecar(path), record=False) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _recorded(path: Path) -> bool:
    """Whether a write to ``path`` gets its own record: not where ``path`` is itself a temporary name (a folder being
    written by an outer ``atomic_dir``, whose record then covers it)."""
    return not path.name.startswith(".")


def remove_leftovers(path: str | Path) -> list[Path]:
    """Delete the temporary files and folders that a killed writer of ``path`` left beside it (the names
    ``atomic_path`` and ``atomic_dir`` give them); return what was deleted. Only the job that writes ``path`` calls
    it, before it writes, so nothing else can be writing them."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    suffix = "".join(path.suffixes)
    stem = path.name.removesuffix(suffix)
    # one more leading dot per level of nesting: a write into another's temporary folder (the backend's atomic_dir
    # inside the segment job's) names its own temporary after that folder, ``..seg.x1.y2`` beside ``.seg.x1``
    temporary = re.compile(rf"\.+(?:{re.escape(path.name)}\..*|{re.escape(stem)}\..*{re.escape(suffix)})")
    found = sorted(p for p in path.parent.iterdir() if temporary.fullmatch(p.name))
    for stale in found:
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    return found


@contextmanager
def atomic_path(path: str | Path, record: bool = True, **counts: int) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds, then write its
    integrity record (``record``: sha256, bytes and the ``counts`` given, e.g. ``rows=``).

    The temporary name starts with ``.`` and keeps ``path``'s suffixes (e.g. ``.nii.gz``) so writers that pick a
    format by extension work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name.removesuffix(suffix)}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.chmod(0o644)  # mkstemp makes it private
        entry = integrity.digest(tmp_path, **counts) if record and _recorded(path) else None
        os.replace(tmp_path, path)
        if entry is not None:
            _write_record(path, entry)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path, record: bool = True) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it replaces ``path`` (and its contents) only if the block succeeds,
    then ``<path>.sha256`` records every file in it (the files' own records are taken into it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private
        files = integrity.folder_record(tmp) if record and _recorded(path) else None
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
        if files is not None:
            _write_record(path, {"files": files})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_tsv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as TSV (no index, ``NA`` for missing), atomically, with its record (``rows``)."""
    with atomic_path(path, rows=len(df)) as tmp:
        df.to_csv(tmp, sep="\t", index=False, na_rep=NA)


def _tsv_cell(value: Any) -> str:
    """One value as ``write_tsv`` writes it in a column of its own type: ``NA`` for None and NaN; else its ``str``,
    which for a float (Python's or NumPy's, of its own width) is the shortest text that reads back the same."""
    return NA if value is None or value != value else str(value)  # NaN is the one value unequal to itself


def write_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], path: str | Path) -> None:
    """Write ``rows`` (keys a row lacks are NA) under ``columns`` as TSV, atomically, with its record, without pandas
    (0.3 s of every job that imports it). The text is ``write_tsv``'s for a table whose every column holds values of
    one type (pandas would write the integers of a column that also holds floats or NA as floats)."""
    with atomic_path(path, rows=len(rows)) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")  # pandas' to_csv dialect: minimal quoting
        writer.writerow(columns)
        writer.writerows([_tsv_cell(row.get(c)) for c in columns] for row in rows)


def _checked(path: str | Path) -> Path:
    if integrity.check(path) is None:
        log.warning(integrity.unrecorded(path))
    return Path(path)


def _parse(source: str | Path | StringIO, **kwargs: Any) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(source, sep="\t", na_values=[NA, ""], keep_default_na=False, **kwargs)


def read_tsv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a TSV where only ``NA`` (and empty cells) mean missing, after checking it against its integrity record
    (IntegrityError if it differs; a file without one is read and the log says so)."""
    return _parse(_checked(path), **kwargs)


def read_tsvs(paths: Sequence[str | Path], **kwargs: Any) -> pd.DataFrame:
    """The rows of several TSVs, each checked as ``read_tsv`` checks it, in one table in the files' order (at least
    one path), as ``pd.concat`` of their ``read_tsv`` tables makes it. Files that share a header are parsed as one
    text: pandas' cost is per column of each file, and the cohort reads tables of 600 columns, one per patient."""
    import numpy as np
    import pandas as pd

    texts = [_checked(p).read_text(encoding="utf-8") for p in paths]
    if any('"' in text for text in texts):  # a quoted cell may hold a line break: rows cannot be counted by lines
        return pd.concat([_parse(StringIO(text), **kwargs) for text in texts], ignore_index=True)
    groups: dict[str, list[tuple[int, list[str]]]] = {}
    for index, text in enumerate(texts):
        head, *lines = text.removesuffix("\n").split("\n")
        groups.setdefault(head, []).append((index, lines))
    frames, origin = [], []
    for head, members in groups.items():
        frames.append(_parse(StringIO("\n".join([head, *(line for _, lines in members for line in lines)]) + "\n"),
                             **kwargs))
        origin += [index for index, lines in members for _ in lines]
    table = pd.concat(frames, ignore_index=True)  # columns in the order the files first name them, as file by file
    return table.iloc[np.argsort(origin, kind="stable")].reset_index(drop=True)


def write_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented, key-sorted JSON with a trailing newline, atomically, with its record."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> Any:
    """Read a JSON result after checking it against its integrity record, like ``read_tsv``."""
    return json.loads(_checked(path).read_text(encoding="utf-8"))


def write_placeholder(path: str | Path, failed: dict[str, str], directory: bool = False) -> None:
    """Write ``path`` as a failed placeholder: an empty file (``directory``: an empty folder) whose integrity record
    holds ``{"failed": failed}`` (see :mod:`wbrad.failures`), replacing what is there."""
    path = Path(path)
    if directory:
        with atomic_dir(path, record=False):
            pass
        _write_record(path, {"files": {}, "failed": failed})
        return
    with atomic_path(path, record=False) as tmp:
        tmp.write_bytes(b"")
    _write_record(path, {**integrity.digest(path), "failed": failed})
