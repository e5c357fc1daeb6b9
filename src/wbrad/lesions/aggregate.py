"""Per-scan lesion aggregates: count, total volume, the largest lesion's features, volume-weighted mean features."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from wbrad.lesions.extract import GEOMETRY_COLUMNS, ID_COLUMNS

KEYS = ["patient_id", "timepoint", "modality"]


def feature_names(lesion_table: pd.DataFrame) -> list[str]:
    """The radiomics feature columns of a lesion table (everything but keys, status and geometry)."""
    return [c for c in lesion_table.columns if c not in KEYS + ID_COLUMNS + GEOMETRY_COLUMNS]


def _scan_aggregates(lesions: pd.DataFrame, features: list[str]) -> dict[str, float]:
    """Aggregates of one scan's lesions; features over ``status == ok`` lesions (NaN-aware volume weighting)."""
    ok = lesions[lesions["status"] == "ok"]
    all_failed = len(lesions) > 0 and len(ok) == 0
    row: dict[str, float] = {"lesion_count": len(lesions),
                             "total_volume_ml": np.nan if all_failed else float(ok["volume_ml"].sum())}
    largest = ok.loc[ok["volume_ml"].idxmax(), features] if len(ok) else pd.Series(np.nan, index=features)
    values = ok[features].to_numpy(dtype=float)
    weights = np.where(np.isnan(values), 0.0, ok["volume_ml"].to_numpy(dtype=float)[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        vwmean = np.nansum(values * weights, axis=0) / weights.sum(axis=0)  # 0/0 -> NaN when no lesion has it
    row.update({f"largest_{f}": float(v) for f, v in zip(features, largest.to_numpy(dtype=float))})
    row.update({f"vwmean_{f}": float(v) for f, v in zip(features, vwmean)})
    return row


def aggregate(lesion_table: pd.DataFrame, scans: Iterable[tuple[str, str, str]] = ()) -> pd.DataFrame:
    """One row per (patient_id, timepoint, modality): ``lesion_count`` (all lesions, failed included),
    ``total_volume_ml`` (ok lesions), ``largest_<feature>`` (the ok lesion with the largest volume) and
    ``vwmean_<feature>`` (volume-weighted mean over ok lesions having the feature).

    ``scans`` lists (patient_id, timepoint, modality) keys that must get a row even without lesions: count 0 and total
    volume 0.0 (true zeros), other columns NA. Lesions present but all failed give total volume NA.
    """
    features = feature_names(lesion_table)
    groups = {key: rows for key, rows in lesion_table.groupby(KEYS, sort=False)}
    keys = list(groups) + [tuple(k) for k in scans if tuple(k) not in groups]
    empty = lesion_table.iloc[:0]
    rows = [dict(zip(KEYS, key)) | _scan_aggregates(groups.get(key, empty), features) for key in keys]
    columns = KEYS + ["lesion_count", "total_volume_ml"] + [f"{p}_{f}" for p in ("largest", "vwmean") for f in features]
    table = pd.DataFrame(rows, columns=columns)
    table["lesion_count"] = table["lesion_count"].astype("int64")
    return table
