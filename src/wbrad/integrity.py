"""Integrity records: every file the pipeline writes gets its sha256, size and row or voxel count in a sidecar, which
the readers of results check before use.

A file ``F`` written through ``wbrad.io`` (``atomic_path``: tables, JSON, images, pictures, models) has the JSON
record ``F.sha256``: ``{"sha256": ..., "bytes": ..., "rows"|"voxels": ...}``, written after ``F`` itself. A folder
written through ``io.atomic_dir`` (the segmentation folder) has one record ``<folder>.sha256`` holding
``{"files": {<path inside the folder>: record}}``. A file without a record (a study input, or a result written
before wbrad kept records) is read unverified and the log says so; ``wbrad audit --verify`` lists such results.
A record with ``"failed"`` marks a failed placeholder (:mod:`wbrad.failures`): reading it raises
:class:`wbrad.failures.UpstreamFailed`, not IntegrityError, and the verifier lists it as a recorded failure.
Temporary files of interrupted writes start with ``.`` and are never read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wbrad.failures import FAILED, Failure, UpstreamFailed

SUFFIX = ".sha256"
NIFTI = (".nii", ".nii.gz")
DAMAGED, UNRECORDED, MISSING, LEFTOVER = "damaged", "unrecorded", "missing", "leftover"
FAILED_SCAN = "failed"  # a Finding's kind for a failed placeholder: a recorded failure, not damage
HASH_THREADS = 4  # hashlib releases the GIL: a tree is verified at disk speed
MARKERS = (".snakemake_timestamp",)  # Snakemake's own files in directory outputs: neither results nor leftovers


class IntegrityError(ValueError):
    """A result file that differs from its record: damaged, or changed after it was written."""


@dataclass(frozen=True)
class Record:
    """The recorded ``entry`` of a file and ``target``, what Snakemake knows as the output (the file or its folder)."""

    entry: dict[str, Any]
    target: Path


@dataclass(frozen=True)
class Finding:
    """One file of a tree that does not verify: ``kind`` is DAMAGED, UNRECORDED, MISSING, LEFTOVER or FAILED_SCAN."""

    path: Path
    kind: str
    detail: str


def sidecar(path: str | Path) -> Path:
    """Where the record of a file or folder lives: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def digest(path: str | Path, **counts: int) -> dict[str, Any]:
    """The record of a file as it is now: its sha256 and size, with the ``counts`` given (rows, voxels)."""
    with open(path, "rb") as fh:
        sha = hashlib.file_digest(fh, "sha256").hexdigest()
        size = os.fstat(fh.fileno()).st_size
    return {"sha256": sha, "bytes": size, **counts}


def nifti_voxels(path: Path) -> dict[str, int]:
    """``{"voxels": n}`` from a NIfTI file's header ({} for other files)."""
    if not path.name.endswith(NIFTI):
        return {}
    import math

    from wbrad.nifti_header import read_header

    return {"voxels": math.prod(read_header(path).shape)}


def _load(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise IntegrityError(f"{path}: unreadable integrity record ({err}): delete it and rerun the job") from err
    if not isinstance(record, dict):
        raise IntegrityError(f"{path}: an integrity record must be a JSON object")
    return record


def folder_record(folder: Path) -> dict[str, dict]:
    """The records of every file in ``folder`` (a finished ``atomic_dir``), by path inside it; a file's own sidecar
    is taken in (and removed), other files are hashed now."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(SUFFIX)):
        own = sidecar(path)
        files[path.relative_to(folder).as_posix()] = _load(own) if own.is_file() else digest(path, **nifti_voxels(path))
        own.unlink(missing_ok=True)
    return files


def find_record(path: str | Path) -> Record | None:
    """The record of ``path``: its own sidecar, else its entry in the record of the nearest recorded folder above
    it; None where there is none."""
    path = Path(path)
    if sidecar(path).is_file():
        return Record(_load(sidecar(path)), path)
    absolute = path.absolute()
    for depth, folder in enumerate(absolute.parents, start=1):
        if folder.name and sidecar(folder).is_file():
            entry = _load(sidecar(folder)).get("files", {}).get(absolute.relative_to(folder).as_posix())
            target = path.parents[depth - 1] if depth < len(path.parents) else folder  # as the caller names it
            return None if entry is None else Record(entry, target)
    return None


def failure_of(path: str | Path) -> Failure | None:
    """The recorded failure of ``path`` when it is a failed placeholder (its own record, or its folder's); None for
    any other file, recorded or not."""
    path = Path(path)
    for record_path in (sidecar(path), *(sidecar(folder) for folder in path.absolute().parents if folder.name)):
        if record_path.is_file():
            entry = _load(record_path).get(FAILED)
            return None if entry is None else Failure.from_record(entry)
    return None


def _counts(entry: dict[str, Any]) -> str:
    return "".join(f", {entry[k]:,} {k}" for k in ("rows", "voxels") if k in entry)


def mismatch(path: Path, found: dict[str, Any], record: Record, where: str = "") -> str | None:
    """Why ``path`` (as ``found`` now) is not the file of ``record``; None when it is."""
    entry = record.entry
    if (found["sha256"], found["bytes"]) == (entry.get("sha256"), entry.get("bytes")):
        return None
    return (f"{where or path}: {found['bytes']:,} bytes, sha256 {found['sha256'][:16]}... differs from its record "
            f"({entry.get('bytes', 0):,} bytes{_counts(entry)}, sha256 {str(entry.get('sha256'))[:16]}...): the file "
            f"is damaged or was changed after it was written; rerun with `snakemake --forcerun {record.target}`")


def check(path: str | Path, where: str = "") -> Record | None:
    """Raise IntegrityError (naming ``where``, else the path) if ``path`` differs from its record, UpstreamFailed
    if it is a failed placeholder; return the record, or None when the file has none (then nothing is checked)."""
    if (failure := failure_of(path)) is not None:
        raise UpstreamFailed(failure, where or path)
    record = find_record(path)
    if record is not None and (why := mismatch(Path(path), digest(path), record, where)):
        raise IntegrityError(why)
    return record


def unrecorded(path: str | Path, how: str = "read unverified") -> str:
    """The log line for a file read without a record; ``how`` says what was done instead."""
    return (f"{path}: no integrity record ({sidecar(path).name}): {how} (a study input, or a result written before "
            f"wbrad kept records; `wbrad audit --verify` lists such results)")


# --- a whole tree (wbrad audit --verify) ------------------------------------------------------------------------------
def _leftover(path: Path) -> Finding:
    what = "folder" if path.is_dir() else "file"
    return Finding(path, LEFTOVER, f"{path}: temporary {what} of an interrupted write; nothing reads it, delete it")


def _expected(root: Path) -> Iterator[tuple[Path, Record | None] | Finding]:
    """Every file under ``root`` with its record (None: unrecorded), a recorded folder's lost files and leftovers."""
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        yield from (_leftover(base / n) for n in sorted(dirs + files) if n.startswith(".") and n not in MARKERS)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(n for n in files if not n.startswith(".") and not n.endswith(SUFFIX)):
            yield base / name, find_record(base / name)
        for recorded in [d for d in dirs if sidecar(base / d).is_file()]:
            dirs.remove(recorded)
            yield from _recorded_folder(base / recorded)


def _failed(path: Path, failure: Failure) -> Finding:
    return Finding(path, FAILED_SCAN, f"{path}: recorded failure, not damage: {failure}")


def _recorded_folder(folder: Path) -> Iterator[tuple[Path, Record | None] | Finding]:
    record = _load(sidecar(folder))
    if FAILED in record:
        yield _failed(folder, Failure.from_record(record[FAILED]))
        return
    entries = record.get("files", {})
    present = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
               if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}
    for name, path in present.items():
        yield (path, Record(entries[name], folder)) if name in entries else Finding(
            path, UNRECORDED, f"{path}: not in its folder's record {sidecar(folder)}: added after the folder was "
                              f"written; rerun with `snakemake --forcerun {folder}`")
    for name in sorted(set(entries) - set(present)):
        yield Finding(folder / name, MISSING, f"{folder / name}: recorded in {sidecar(folder)} but missing: the "
                                              f"folder is incomplete; rerun with `snakemake --forcerun {folder}`")


def _verify(item: tuple[Path, Record | None]) -> Finding | None:
    path, record = item
    if record is None:
        return Finding(path, UNRECORDED, f"{path}: no integrity record ({sidecar(path).name}): written before wbrad "
                                         f"kept records or by another program; rerun with `snakemake --forcerun "
                                         f"{path}` to remake it with one")
    if FAILED in record.entry:
        return _failed(path, Failure.from_record(record.entry[FAILED]))
    why = mismatch(path, digest(path), record)
    return None if why is None else Finding(path, DAMAGED, why)


def verify_tree(root: str | Path) -> list[Finding]:
    """Every damaged, unrecorded or missing file, failed placeholder and leftover temporary file under ``root``."""
    found = list(_expected(Path(root)))
    files = [item for item in found if not isinstance(item, Finding)]
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        checked = [f for f in pool.map(_verify, files) if f is not None]
    return sorted([*checked, *(f for f in found if isinstance(f, Finding))], key=lambda f: str(f.path))
