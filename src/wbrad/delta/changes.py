"""Changes from baseline: absolute (fu - bl) and relative ((fu - bl) / bl, NA when bl is 0 or NA), per aggregate and
per tracked lesion (tracks.tsv of the tracking stage says which lesion of each scan a track is)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def abs_rel(followup: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Column-wise ``abs_<col>`` then ``rel_<col>`` for aligned frames of the same columns."""
    fu, bl = followup.to_numpy(dtype=float), baseline.to_numpy(dtype=float)
    diff = fu - bl
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(bl == 0, np.nan, diff / bl)
    cols = list(followup.columns)
    return pd.DataFrame(np.hstack([diff, rel]), index=followup.index,
                        columns=[f"abs_{c}" for c in cols] + [f"rel_{c}" for c in cols])


def _track_values(tracks: pd.DataFrame, table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per track at one timepoint: ``columns`` of its lesion; a split track's volumes summed (other values NA), a
    merged lesion's volume counted for its lowest track (0 for the others, values NA), a disappeared track's 0."""
    values = table.set_index("lesion")[columns].astype(float)
    rows = tracks.dropna(subset=["lesion"]).astype({"lesion": int})
    shared = rows.groupby("lesion")["track"].transform("min")
    single = rows[(rows.groupby("track")["lesion"].transform("size") == 1) & (shared == rows["track"])]
    out = values.reindex(single["lesion"]).set_axis(single["track"]).reindex(sorted(tracks["track"].unique()))
    if "volume_ml" in columns:
        volume = values["volume_ml"].reindex(rows["lesion"]).to_numpy()
        counted = pd.Series(volume, index=rows.index).where(shared == rows["track"], 0.0)
        out["volume_ml"] = counted.groupby(rows["track"]).sum().reindex(out.index).fillna(0.0)
        out.loc[~out.index.isin(rows["track"]), "volume_ml"] = 0.0
    return out


def _labels(rows: pd.DataFrame) -> pd.Series:
    """Per track, its lesion labels at one timepoint joined by ``+`` (a split track has several)."""
    return rows.groupby("track")["lesion"].agg(lambda s: "+".join(str(int(v)) for v in s.dropna()))


def track_changes(tracks: pd.DataFrame, baseline: pd.DataFrame, followup: pd.DataFrame, baseline_name: str,
                  timepoint: str, columns: list[str]) -> pd.DataFrame:
    """Per track present at baseline or at ``timepoint`` (tracks.tsv): ``track, lesion_baseline, lesion, status``,
    abs_/rel_ of ``columns`` between the lesion tables, and ``rate_volume_ml`` (ml per day)."""
    at = {name: tracks[tracks["timepoint"] == name] for name in (baseline_name, timepoint)}
    ids = sorted(set(at[baseline_name]["track"]) | set(at[timepoint]["track"]))
    bl = _track_values(at[baseline_name], baseline, columns).reindex(ids)
    fu = _track_values(at[timepoint], followup, columns).reindex(ids)
    if "volume_ml" in columns:
        bl["volume_ml"] = bl["volume_ml"].fillna(0.0)  # a new track had no volume at baseline
        fu["volume_ml"] = fu["volume_ml"].fillna(0.0)
    status = at[timepoint].groupby("track")["status"].first().reindex(ids)
    changes = abs_rel(fu, bl)
    out = pd.DataFrame({"track": ids, "lesion_baseline": _labels(at[baseline_name]).reindex(ids).to_numpy(),
                        "lesion": _labels(at[timepoint]).reindex(ids).to_numpy(), "status": status.to_numpy()})
    days = float(at[timepoint]["day"].iloc[0]) if len(at[timepoint]) else np.nan
    rate = changes["abs_volume_ml"] / days if "volume_ml" in columns and days > 0 else np.nan
    return pd.concat([out, changes.reset_index(drop=True)], axis=1).assign(rate_volume_ml=np.asarray(rate))
