"""Lesion matching across timepoints. The contract: the same label integer is the same lesion at every timepoint."""

from __future__ import annotations

import pandas as pd


def match_lesions(baseline: pd.Series, followup: pd.Series) -> pd.DataFrame:
    """``lesion, status`` for the union of two scans' lesion ids: ``matched`` (in both), ``new`` (follow-up only),
    ``disappeared`` (baseline only); sorted by lesion."""
    before, after = set(baseline.astype(int)), set(followup.astype(int))
    lesions = sorted(before | after)
    status = ["matched" if k in before and k in after else "new" if k in after else "disappeared" for k in lesions]
    return pd.DataFrame({"lesion": pd.Series(lesions, dtype="int64"), "status": status})
