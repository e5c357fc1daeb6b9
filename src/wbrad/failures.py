"""One bad scan costs one patient: data errors of a scan become a recorded failure, not a job crash.

A per-scan job that meets a :class:`ScanDataError` (NaN, a grid mismatch, a truncated or corrupt file, a missing file:
the data of that one scan) writes each of its outputs as a *failed placeholder*: an empty file (or folder) whose
integrity record ``<output>.sha256`` holds ``"failed": {"stage", "patient", "timepoint", "modality", "reason"}``
(:func:`wbrad.workflow.run_scan`). Jobs downstream of a placeholder pass the failure on without running; the delta and
cohort jobs leave the failed scans out and the cohort job lists them in ``exclusions.tsv``. Any other exception is a
code bug and still fails its job.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas (0.3 s) only where a table is made: every job imports this module
    import pandas as pd

FAILED = "failed"  # the key of an integrity record that marks a failed placeholder
EXCLUSION_COLUMNS = ["patient_id", "timepoint", "modality", "stage", "reason"]
MANIFEST_STAGE = "manifest"  # the stage of a scan left out before any job ran (a missing file)


class ScanDataError(ValueError):
    """An error in the data of one scan (not in the code): that scan fails, the other patients go on."""


@dataclass(frozen=True)
class Failure:
    """Why one scan has no results: the ``stage`` (rule) that found it and the ``reason`` (the error message)."""

    stage: str
    patient: str
    timepoint: str
    modality: str
    reason: str

    def record(self) -> dict[str, str]:
        """The ``"failed"`` entry of a placeholder's integrity record."""
        return asdict(self)

    @classmethod
    def from_record(cls, entry: dict[str, Any]) -> Failure:
        return cls(**{key: str(entry.get(key, "")) for key in ("stage", "patient", "timepoint", "modality", "reason")})

    def row(self) -> dict[str, str]:
        """A row of ``exclusions.tsv``."""
        return {"patient_id": self.patient, "timepoint": self.timepoint, "modality": self.modality,
                "stage": self.stage, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.patient} {self.timepoint} {self.modality} failed at {self.stage}: {self.reason}"


class UpstreamFailed(ScanDataError):
    """An input is a failed placeholder: its scan failed at an earlier stage (not damage: nothing to repair here)."""

    def __init__(self, failure: Failure | str, path: str | Path = "") -> None:
        if isinstance(failure, str):  # re-raised with context by a caller (``type(err)(message)``)
            super().__init__(failure)
            self.failure = None
            return
        super().__init__(f"{path}: a failed placeholder: {failure}")
        self.failure = failure


@contextlib.contextmanager
def scan_data(where: str) -> Iterator[None]:
    """Turn the ValueError or missing file raised while reading and checking one scan's input files into a
    ScanDataError (naming ``where`` unless the message does): use it around input reads only, where every such
    error is about the data. A damaged pipeline result (IntegrityError) is not: it stays as it is."""
    from wbrad.integrity import IntegrityError  # integrity imports this module

    try:
        yield
    except (ScanDataError, IntegrityError):
        raise
    except (ValueError, FileNotFoundError) as err:
        message = str(err) if where in str(err) else f"{where}: {err}"
        raise ScanDataError(message) from err


def exclusion_table(failures: Iterable[Failure | dict[str, str]]) -> pd.DataFrame:
    """``exclusions.tsv``: one row per failed or excluded scan (duplicates merged), sorted by patient and scan."""
    import pandas as pd

    rows = [f.row() if isinstance(f, Failure) else {k: f.get(k, "") for k in EXCLUSION_COLUMNS} for f in failures]
    table = pd.DataFrame(rows, columns=EXCLUSION_COLUMNS).drop_duplicates()
    return table.sort_values(EXCLUSION_COLUMNS[:4], kind="stable").reset_index(drop=True)


# --- the manifest's missing files (rules/common.smk, before any job) ----------------------------------------------
MISSING_COLUMNS = ["patient_id", "timepoint", "modality", "column", "path"]
STOP, EXCLUDE = "stop", "exclude"  # the config's missing_files


def missing_files(manifest: pd.DataFrame) -> pd.DataFrame:
    """Every file or folder the manifest names that does not exist (paths as in ``wbrad.study.read_manifest``)."""
    import pandas as pd

    columns = [c for c in _manifest_paths() if c in manifest]
    rows = [(*row[:3], column, file)
            for row in manifest[MISSING_COLUMNS[:3] + columns].itertuples(index=False, name=None)
            for column, file in zip(columns, row[3:], strict=True) if file and not os.path.exists(file)]
    return pd.DataFrame(rows, columns=MISSING_COLUMNS)


def missing_message(missing: pd.DataFrame, manifest: str | Path) -> str:
    """All missing files at once, one line each, and how to go on without them."""
    lines = [f"{r.patient_id} {r.timepoint} {r.modality} {r.column}: {r.path}" for r in missing.itertuples()]
    return (f"{manifest}: {len(lines)} file(s) named in the manifest do not exist:\n  " + "\n  ".join(lines) +
            f"\nrestore them, or set `missing_files: {EXCLUDE}` to run without those scans (listed in exclusions.tsv)")


def exclude_missing(manifest: pd.DataFrame, missing: pd.DataFrame,
                    ct: str = "CT") -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """The manifest without the scans that miss a file, and their exclusion rows (stage ``manifest``); a scan of
    another modality whose ``ct`` scan at the same timepoint is dropped goes too (it is read onto that CT)."""
    reasons = {(r.patient_id, r.timepoint, r.modality): f"{r.column} file not found: {r.path}"
               for r in missing[::-1].itertuples()}  # the first missing column of a scan gives its reason
    for key in list(manifest.index):
        patient, timepoint, modality = key
        if key not in reasons and (patient, timepoint, ct) in reasons:
            reasons[key] = f"its {ct} at {timepoint} is excluded: {reasons[(patient, timepoint, ct)]}"
    rows = [Failure(MANIFEST_STAGE, *key, reason).row() for key, reason in sorted(reasons.items())]
    return manifest.drop(index=list(reasons)), rows


def _manifest_paths() -> tuple[str, ...]:
    """The manifest's path columns; imported here so that readers of failure records (the TotalSegmentator
    environment among them) need not import wbrad.study and its schema library."""
    from wbrad.study import MANIFEST_PATHS

    return MANIFEST_PATHS
