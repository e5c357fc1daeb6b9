"""Per-scan lesion aggregates: burden (count, total volume, summed diameters, MTV, TLG), the largest lesion's features,
volume-weighted means, inter-lesion heterogeneity, organ involvement and spread. Their names, units and descriptions
are declared in lesions.columns (``AGGREGATES``).

A ``truncated`` lesion (cut by a field of view) counts as a lesion and its values enter every aggregate where they are
not NaN, as an ok lesion's do (its shape features are NaN; its volume, long axis, MTV and TLG, lower bounds, enter
the totals as they are, which are then lower bounds too); a ``failed`` one is only counted (``lesion_count``,
sites, spread)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from wbrad.lesions.columns import GEOMETRY_COLUMNS, HETEROGENEITY, ID_COLUMNS, MAXIMA, MEASURED, SITES, TOTALS
from wbrad.lesions.diameters import largest_distance

KEYS = ["patient_id", "timepoint", "modality"]
SITE = "site"
CENTROID = ["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]


def feature_names(lesion_table: pd.DataFrame) -> list[str]:
    """The per-lesion value columns of a lesion table (everything but keys, status, site and geometry)."""
    return [c for c in lesion_table.columns if c not in KEYS + ID_COLUMNS + [SITE] + GEOMETRY_COLUMNS]


def heterogeneity(values: np.ndarray) -> dict[str, np.ndarray]:
    """Per column of a (lesions x features) array, over its non-NaN values: sample SD, IQR and range; NaN where
    fewer than two lesions have the value (no spread to measure)."""
    enough = (~np.isnan(values)).sum(axis=0) >= 2
    values = values[:, enough]
    out = {name: np.full(enough.shape, np.nan) for name in HETEROGENEITY}
    if values.size:
        q1, q3 = np.nanpercentile(values, [25, 75], axis=0)
        out["sd"][enough] = np.nanstd(values, axis=0, ddof=1)
        out["iqr"][enough] = q3 - q1
        out["range"][enough] = np.nanmax(values, axis=0) - np.nanmin(values, axis=0)
    return out


def _involvement(lesions: pd.DataFrame) -> dict[str, float]:
    """Organs with a lesion (``organ_count``, ``site_<site>`` 0/1) and ``spread_mm``, the largest distance between two
    lesion centroids (0 for one lesion, NA for none). Every lesion with voxels counts, failed features or not."""
    row: dict[str, float] = {}
    if SITE in lesions:
        sites = set(lesions[SITE].dropna())
        row["organ_count"] = len(sites)
        row.update({f"site_{s}": float(s in sites) for s in SITES})
    centres = lesions[CENTROID].dropna().to_numpy(dtype=float)
    row["spread_mm"] = largest_distance(centres)
    return row


def _total(values: pd.Series, all_failed: bool) -> float:
    """Sum over the lesions having the value: 0 without lesions, NA when lesions exist but none has it."""
    return np.nan if all_failed or (len(values) and values.isna().all()) else float(values.sum())


def _scan_aggregates(lesions: pd.DataFrame, features: list[str]) -> dict[str, float]:
    """Aggregates of one scan's lesions; features over the ok and truncated lesions (NaN-aware volume weighting)."""
    ok = lesions[lesions["status"].isin(MEASURED)]
    all_failed = len(lesions) > 0 and len(ok) == 0
    row: dict[str, float] = {"lesion_count": len(lesions),
                             "total_volume_ml": np.nan if all_failed else float(ok["volume_ml"].sum())}
    row.update({f"total_{c}": _total(ok[c], all_failed) for c in TOTALS if c in lesions})
    row.update({f"max_{c}": float(ok[c].max()) for c in MAXIMA if c in lesions})
    row.update(_involvement(lesions))
    largest = ok.loc[ok["volume_ml"].idxmax(), features] if len(ok) else pd.Series(np.nan, index=features)
    values = ok[features].to_numpy(dtype=float)
    weights = np.where(np.isnan(values), 0.0, ok["volume_ml"].to_numpy(dtype=float)[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        vwmean = np.nansum(values * weights, axis=0) / weights.sum(axis=0)  # 0/0 -> NaN when no lesion has it
    row.update({f"largest_{f}": float(v) for f, v in zip(features, largest.to_numpy(dtype=float), strict=True)})
    row.update({f"vwmean_{f}": float(v) for f, v in zip(features, vwmean, strict=True)})
    for name, spread in heterogeneity(values).items():
        row.update({f"{name}_{f}": float(v) for f, v in zip(features, spread, strict=True)})
    return row


def aggregate(lesion_table: pd.DataFrame, scans: Iterable[tuple[str, str, str]] = ()) -> pd.DataFrame:
    """One row per (patient_id, timepoint, modality): ``lesion_count`` (all lesions, failed included),
    ``total_volume_ml`` (ok lesions), ``total_<c>`` for ``TOTALS`` (NA where no ok lesion has the value, e.g. MTV on
    CT rows of a table holding both modalities) and ``max_<c>`` for ``MAXIMA`` present in the table,
    ``organ_count`` and ``site_<site>`` flags (with a ``site`` column), ``spread_mm``, then per feature
    ``largest_`` (the ok lesion with the largest volume), ``vwmean_`` (volume-weighted mean over ok lesions having it)
    and the heterogeneity over ok lesions ``sd_``, ``iqr_``, ``range_``. "ok" includes ``truncated`` here (module
    docstring).

    ``scans`` lists (patient_id, timepoint, modality) keys that must get a row even without lesions: count, totals,
    organ count and flags 0 (true zeros), other columns NA. Lesions present but all failed give totals NA.
    """
    features = feature_names(lesion_table)
    groups = {key: rows for key, rows in lesion_table.groupby(KEYS, sort=False)}
    keys = list(groups) + [tuple(k) for k in scans if tuple(k) not in groups]
    empty = lesion_table.iloc[:0]
    rows = [dict(zip(KEYS, key, strict=True)) | _scan_aggregates(groups.get(key, empty), features) for key in keys]
    table = pd.DataFrame(rows, columns=KEYS + list(_scan_aggregates(empty, features)))
    table["lesion_count"] = table["lesion_count"].astype("int64")
    return table
