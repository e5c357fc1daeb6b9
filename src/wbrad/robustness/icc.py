"""ICC(1,1) with its 95 % interval for every feature at once, from a long table of subjects x repeats.

ICC(1,1) is the one-way random-effects, single-measurement intraclass correlation (Shrout and Fleiss, Psychol Bull
1979; 86:420, case 1; McGraw and Wong, Psychol Methods 1996; 1:30, Table 4/7), the measure of Zwanenburg et al. (Sci
Rep 2019) for perturbation and test-retest robustness: with n subjects (lesions) and k repeats (perturbations or
scans), MSB and MSW the between- and within-subject mean squares,

    ICC = (MSB - MSW) / (MSB + (k - 1) MSW),

and the interval from F = MSB / MSW with df (n - 1, n (k - 1)): FL = F / F_{1-a/2}(n-1, n(k-1)),
FU = F * F_{1-a/2}(n(k-1), n-1), bounds (FL - 1) / (FL + k - 1) and (FU - 1) / (FU + k - 1). These are
pingouin's ``intraclass_corr`` ``ICC(1,1)`` row values (tested). A subject missing a value of a feature in any repeat is
left out of that feature's ICC (complete cases per feature, as pingouin does); a feature with no variance has ICC NaN.
The computation is vectorised over features: an (n, k, p) array in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

ICC_COLUMNS = ["feature", "icc", "icc_low", "icc_high", "n_subjects", "n_repeats"]


def icc1(values: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """ICC(1,1) and its ``1 - alpha`` interval per feature of ``values`` shaped (subjects, repeats, features).

    Returns columns ``icc, icc_low, icc_high, n_subjects, n_repeats`` (one row per feature, in order)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3:
        raise ValueError(f"values must be (subjects, repeats, features), got shape {values.shape}")
    k = values.shape[1]
    complete = np.isfinite(values).all(axis=1)  # (subjects, features)
    n = complete.sum(axis=0).astype(np.float64)
    x = np.where(complete[:, None, :], values, 0.0)
    subject_mean = x.mean(axis=1)  # (subjects, features); 0 for left-out subjects
    with np.errstate(invalid="ignore", divide="ignore"):
        grand = subject_mean.sum(axis=0) / n
        ss_between = k * (np.where(complete, subject_mean - grand, 0.0) ** 2).sum(axis=0)
        ss_within = (np.where(complete[:, None, :], x - subject_mean[:, None, :], 0.0) ** 2).sum(axis=(0, 1))
        msb, msw = ss_between / (n - 1), ss_within / (n * (k - 1))
        icc = (msb - msw) / (msb + (k - 1) * msw)
        f = msb / msw
        df1, df2 = n - 1, n * (k - 1)
        f_low = f / stats.f.ppf(1 - alpha / 2, df1, df2)
        f_high = f * stats.f.ppf(1 - alpha / 2, df2, df1)
        low, high = (f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1)
    usable = (n >= 2) & (k >= 2) & np.isfinite(icc)
    nan = np.full_like(icc, np.nan)
    return pd.DataFrame({"icc": np.where(usable, icc, nan), "icc_low": np.where(usable, low, nan),
                         "icc_high": np.where(usable, high, nan), "n_subjects": n.astype(int), "n_repeats": k})


def icc_table(table: pd.DataFrame, subject: str | Sequence[str], repeat: str,
              features: Sequence[str] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """ICC(1,1) per feature of a long table, one row per subject and repeat (e.g. ``lesion`` x ``perturbation``;
    ``subject`` may be several key columns, e.g. patient, timepoint, lesion). ``features`` defaults to the numeric
    columns other than the keys. Columns: ``feature, icc, icc_low, icc_high, n_subjects, n_repeats``; a subject
    lacking a repeat counts as missing in it."""
    keys = [subject] if isinstance(subject, str) else list(subject)
    if table.duplicated(keys + [repeat]).any():
        raise ValueError(f"{keys + [repeat]} do not identify the rows: duplicated subject/repeat pairs")
    if features is None:
        features = [c for c in table.select_dtypes("number").columns if c not in (*keys, repeat)]
    features = list(features)
    ids = table[keys].astype(str).agg("\t".join, axis=1) if len(keys) > 1 else table[keys[0]]
    subjects, s_index = np.unique(ids.to_numpy(), return_inverse=True)
    repeats, r_index = np.unique(table[repeat].to_numpy(), return_inverse=True)
    cube = np.full((len(subjects), len(repeats), len(features)), np.nan)
    cube[s_index, r_index, :] = table[features].to_numpy(dtype=np.float64, na_value=np.nan)
    out = icc1(cube, alpha)
    out.insert(0, "feature", features)
    return out[ICC_COLUMNS]
