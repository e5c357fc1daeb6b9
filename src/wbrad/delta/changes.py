"""Changes from baseline: absolute (fu - bl) and relative ((fu - bl) / bl, NA when bl is 0 or NA)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbrad.delta.match import match_lesions


def abs_rel(followup: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Column-wise ``abs_<col>`` then ``rel_<col>`` for aligned frames of the same columns."""
    fu, bl = followup.to_numpy(dtype=float), baseline.to_numpy(dtype=float)
    diff = fu - bl
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(bl == 0, np.nan, diff / bl)
    cols = list(followup.columns)
    return pd.DataFrame(np.hstack([diff, rel]), index=followup.index,
                        columns=[f"abs_{c}" for c in cols] + [f"rel_{c}" for c in cols])


def lesion_changes(baseline: pd.DataFrame, followup: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per lesion of one modality: ``lesion, status`` (matched/new/disappeared), then abs_/rel_ of ``columns``.

    A lesion absent at a timepoint has a true volume of 0 there (so a new lesion has rel NA, a disappeared one
    rel -1) and no features (NA changes).
    """
    matched = match_lesions(baseline["lesion"], followup["lesion"])

    def values(table: pd.DataFrame) -> pd.DataFrame:
        aligned = table.set_index("lesion")[columns].astype(float).reindex(matched["lesion"])
        if "volume_ml" in columns:
            aligned["volume_ml"] = aligned["volume_ml"].where(aligned.index.isin(table["lesion"]), 0.0)
        return aligned

    changes = abs_rel(values(followup), values(baseline)).reset_index(drop=True)
    return pd.concat([matched, changes], axis=1)
