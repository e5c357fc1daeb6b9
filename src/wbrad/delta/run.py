"""Per-patient delta job: lesion tables of every scan -> aggregates.tsv, delta.tsv, delta_lesions.tsv."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pandas as pd

from wbrad import integrity
from wbrad.delta.changes import abs_rel, track_changes
from wbrad.failures import UpstreamFailed
from wbrad.io import read_tsv, write_tsv
from wbrad.lesions.aggregate import KEYS, aggregate, feature_names
from wbrad.study import file_modality, modality

log = logging.getLogger(__name__)


def _read_scan(path: Path, patient: str, timepoint: str, scan_modality: str) -> pd.DataFrame:
    """The lesion table of one scan, with its canonical modality; it must hold lesions of that patient and timepoint
    (a scan without lesions has no rows)."""
    table = read_tsv(path, dtype={"patient_id": str, "timepoint": str, "modality": str, "status": str})
    found = table[["patient_id", "timepoint"]].drop_duplicates().to_records(index=False).tolist()
    if table.empty or found == [(patient, timepoint)]:
        return table.assign(modality=modality(scan_modality))
    raise ValueError(f"{patient}: {path} should hold lesions of {patient} at {timepoint}, has {found}")


def _days(scan_dates: dict[str, str], timepoint: str, baseline: str, patient: str) -> int:
    try:
        return (date.fromisoformat(scan_dates[timepoint]) - date.fromisoformat(scan_dates[baseline])).days
    except KeyError as exc:
        raise ValueError(f"{patient}: no scan date for timepoint {exc.args[0]} (have {sorted(scan_dates)})") from None


def delta_table(patient: str, aggregates: pd.DataFrame, scan_dates: dict[str, str], baseline: str) -> pd.DataFrame:
    """One row per follow-up: ``patient_id, timepoint, baseline_days``, then per modality ``abs_<modality>_<agg>``
    and ``rel_<modality>_<agg>`` (``ct``/``pet``); a modality not scanned at baseline or at the follow-up gives NA."""
    aggs = [c for c in aggregates.columns if c not in KEYS]
    modalities = list(dict.fromkeys(aggregates["modality"]))
    if baseline not in set(aggregates["timepoint"]):  # a failed baseline scan: no change from it
        return pd.DataFrame(columns=["patient_id", "timepoint", "baseline_days"])
    followups = sorted({t for t in aggregates["timepoint"] if t != baseline},
                       key=lambda t: _days(scan_dates, t, baseline, patient))
    by_scan = aggregates.set_index(["timepoint", "modality"])[aggs].astype(float)

    def scan(timepoint: str, scan_modality: str) -> pd.DataFrame:  # one row, all-NA if not scanned
        one = by_scan.reindex([(timepoint, scan_modality)]).reset_index(drop=True)
        return one.rename(columns=lambda c: f"{file_modality(scan_modality)}_{c}")

    rows = []
    for tp in followups:
        row = pd.DataFrame({"patient_id": [patient], "timepoint": [tp],
                            "baseline_days": [_days(scan_dates, tp, baseline, patient)]})
        rows.append(pd.concat([row] + [abs_rel(scan(tp, m), scan(baseline, m)) for m in modalities], axis=1))
    empty = pd.DataFrame(columns=["patient_id", "timepoint", "baseline_days"])
    return pd.concat(rows, ignore_index=True) if rows else empty


def delta_lesion_table(patient: str, lesions: dict[tuple[str, str], pd.DataFrame], tracks: pd.DataFrame | None,
                       columns: list[str], baseline: str) -> pd.DataFrame:
    """One row per track, follow-up and modality scanned at both baseline and that follow-up (tracks.tsv gives which
    lesion of each scan a track is; ``wbrad.delta.changes.track_changes``); no rows without tracks."""
    parts = []
    for (tp, m), table in lesions.items():
        if tp == baseline or (baseline, m) not in lesions or tracks is None:
            continue
        present = [c for c in columns if c in table.columns]  # PET tables have uptake columns, CT tables not
        changes = track_changes(tracks, lesions[(baseline, m)], table, baseline, tp, present)
        parts.append(pd.concat([pd.DataFrame({"patient_id": patient, "timepoint": tp, "modality": m},
                                             index=changes.index), changes], axis=1))
    empty = pd.DataFrame(columns=KEYS + ["track", "lesion_baseline", "lesion", "status"]
                         + [f"{p}_{c}" for p in ("abs", "rel") for c in columns] + ["rate_volume_ml"])
    return pd.concat(parts, ignore_index=True) if parts else empty


def _tracks(patient: str, path: Path | None) -> pd.DataFrame | None:
    """The patient's tracks.tsv; None without one (no contoured baseline) or when its job failed."""
    if path is None:
        return None
    if (failure := integrity.failure_of(path)) is not None:
        log.warning("%s: no per-lesion changes: tracking failed at %s: %s", patient, failure.stage, failure.reason)
        return None
    return read_tsv(path, dtype={"patient_id": str, "timepoint": str, "status": str}).astype({"lesion": "Int64"})


def completed_scans(patient: str, lesion_tables: dict[tuple[str, str], Path]) -> dict[tuple[str, str], Path]:
    """The lesion tables that are not failed placeholders; UpstreamFailed (the first failure) when none is left."""
    failed = {key: f for key, p in lesion_tables.items() if (f := integrity.failure_of(p)) is not None}
    for (tp, m), failure in failed.items():
        log.warning("%s: %s %s left out: its scan failed at %s: %s", patient, tp, m, failure.stage, failure.reason)
    if failed and len(failed) == len(lesion_tables):
        key = next(iter(failed))
        raise UpstreamFailed(failed[key], lesion_tables[key])
    return {key: p for key, p in lesion_tables.items() if key not in failed}


def patient_delta(patient: str, lesion_tables: dict[tuple[str, str], Path], scan_dates: dict[str, str],
                  baseline: str, out_aggregates: Path, out_delta: Path, out_delta_lesions: Path,
                  tracks: Path | None = None) -> None:
    """Aggregates of every scan, their changes from ``baseline``, and per-lesion changes, for one patient.

    ``lesion_tables`` maps ``(timepoint, modality)`` to that scan's lesion table; ``scan_dates`` maps timepoint ->
    ``YYYY-MM-DD``. A table that is a failed placeholder (its scan failed, :mod:`wbrad.failures`) is left out: a
    failed follow-up has no delta, a failed baseline no change from it; UpstreamFailed when every scan failed.
    """
    if not any(tp == baseline for tp, _ in lesion_tables):
        raise ValueError(f"{patient}: no {baseline} lesion table among {[str(p) for p in lesion_tables.values()]}")
    lesion_tables = completed_scans(patient, lesion_tables)
    scans = {(patient, tp, modality(m)): _read_scan(Path(p), patient, tp, m) for (tp, m), p in lesion_tables.items()}
    if len(scans) != len(lesion_tables):
        raise ValueError(f"{patient}: two lesion tables for the same scan among {sorted(lesion_tables)}")
    scans = dict(sorted(scans.items(), key=lambda kv: (_days(scan_dates, kv[0][1], baseline, patient), kv[0][2])))
    tables = pd.concat([t for t in scans.values() if not t.empty] or list(scans.values())[:1], ignore_index=True)
    aggregates = aggregate(tables, scans=scans).set_index(KEYS).loc[list(scans)].reset_index()
    lesions = {(tp, m): t for (_, tp, m), t in scans.items()}
    write_tsv(aggregates, out_aggregates)
    write_tsv(delta_table(patient, aggregates, scan_dates, baseline), out_delta)
    columns = ["volume_ml"] + feature_names(tables)
    write_tsv(delta_lesion_table(patient, lesions, _tracks(patient, tracks), columns, baseline), out_delta_lesions)
    log.info("%s: %d scans -> %s", patient, len(scans), out_delta)
