"""Feature selection steps for wide feature sets, as scikit-learn transformers that learn only from the rows ``fit``
sees (so, inside a Pipeline, only from the training fold).

Each step takes a DataFrame and returns the DataFrame of the columns it keeps (``columns_``); non-numeric columns
and the ``keep`` columns always pass. In the order a Pipeline would use them:

- ``NearZeroVariance``: caret's ``nearZeroVar`` rule (Kuhn, J Stat Softw 2008; 28(5)): drop a column that is
  constant, or whose most common value is over ``freq_ratio`` times as frequent as the second AND whose distinct
  values are under ``unique_percent`` % of the rows.
- ``RobustFeatureFilter``: drop columns whose ICC (a Series indexed by column name, e.g. from ``robustness.tsv``
  mapped onto the cohort's columns) is below ``threshold``; columns without an ICC pass. The ICC needs no outcome.
- ``CorrelationFilter``: of every pair with |Spearman r| > ``threshold``, keep one: columns are ranked by ICC (higher
  first, if ``icc`` given), then by |r| with the ``volume`` column (lower first), then by their order; going down
  that ranking a column is kept unless it correlates above the threshold with one already kept. The ``volume``
  column itself ranks first, so a volume surrogate is dropped in favour of volume.
- ``UnivariateCox``: the ``k`` columns with the smallest univariate Cox Wald p (or the largest |C - 0.5| with
  ``score="concordance"``, Harrell's C of the column as risk score). The Cox fits are one Newton-Raphson over all
  columns at once (Breslow ties; the coefficient equals scikit-survival's ``CoxPHSurvivalAnalysis(ties="breslow")``,
  tested), on the column standardised and median-imputed within the fold.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin

from wbrad.model.metrics import cindex


class _ColumnSelector(TransformerMixin, BaseEstimator):
    """Keeps ``columns_`` (chosen in ``fit`` by ``_choose`` among the numeric columns not in ``keep``)."""

    keep: Sequence[str] = ()

    def _candidates(self, X: pd.DataFrame) -> list[str]:
        return [c for c in X.select_dtypes("number").columns if c not in set(self.keep)]

    def _choose(self, X: pd.DataFrame, y: object) -> list[str]:
        raise NotImplementedError

    def fit(self, X: pd.DataFrame, y: object = None) -> _ColumnSelector:
        candidates = self._candidates(X)
        chosen = set(self._choose(X[candidates], y))
        if candidates and not chosen and len(candidates) == X.shape[1]:  # never leave the model without a column
            warnings.warn(f"{type(self).__name__} would drop all {len(candidates)} columns of {len(X)} training "
                          "rows: it keeps them", RuntimeWarning, stacklevel=2)
            chosen = set(candidates)
        self.columns_ = [c for c in X.columns if c not in candidates or c in chosen]
        self.dropped_ = [c for c in candidates if c not in chosen]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X[self.columns_]

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(self.columns_, dtype=object)


class NearZeroVariance(_ColumnSelector):
    def __init__(self, freq_ratio: float = 95 / 5, unique_percent: float = 10.0, keep: Sequence[str] = ()):
        self.freq_ratio = freq_ratio
        self.unique_percent = unique_percent
        self.keep = keep

    def _near_zero(self, column: pd.Series) -> bool:
        counts = column.value_counts(dropna=True).to_numpy()
        if len(counts) <= 1:
            return True
        ratio = counts[0] / counts[1]
        return ratio > self.freq_ratio and 100.0 * len(counts) / max(column.notna().sum(), 1) < self.unique_percent

    def _choose(self, X: pd.DataFrame, y: object) -> list[str]:
        return [c for c in X.columns if not self._near_zero(X[c])]


class RobustFeatureFilter(_ColumnSelector):
    def __init__(self, icc: pd.Series | None = None, threshold: float = 0.75, keep: Sequence[str] = ()):
        self.icc = icc
        self.threshold = threshold
        self.keep = keep

    def _choose(self, X: pd.DataFrame, y: object) -> list[str]:
        icc = pd.Series(dtype=float) if self.icc is None else self.icc
        return [c for c in X.columns if c not in icc.index or not icc[c] < self.threshold]


def _spearman(X: pd.DataFrame) -> np.ndarray:
    """|Spearman r| between columns (pairwise complete when values are missing)."""
    ranks = X.rank()
    if not ranks.isna().any().any():
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.abs(np.corrcoef(ranks.to_numpy(), rowvar=False)).reshape(X.shape[1], X.shape[1])
    return ranks.corr().abs().to_numpy()


class CorrelationFilter(_ColumnSelector):
    def __init__(self, threshold: float = 0.9, icc: pd.Series | None = None, volume: str | None = None,
                 keep: Sequence[str] = ()):
        self.threshold = threshold
        self.icc = icc
        self.volume = volume
        self.keep = keep

    def _ranking(self, X: pd.DataFrame, r: np.ndarray) -> np.ndarray:
        """Column positions, best first (module docstring)."""
        icc = np.zeros(X.shape[1]) if self.icc is None else -self.icc.reindex(X.columns).fillna(-np.inf).to_numpy()
        to_volume = np.zeros(X.shape[1])
        if self.volume is not None and self.volume in X.columns:
            at = X.columns.get_loc(self.volume)
            to_volume = np.nan_to_num(r[at], nan=0.0)
            icc = icc.copy()
            icc[at] = -np.inf  # volume first
        return np.lexsort((np.arange(X.shape[1]), to_volume, icc))

    def _choose(self, X: pd.DataFrame, y: object) -> list[str]:
        r = _spearman(X)
        kept: list[int] = []
        for j in self._ranking(X, r):
            if not kept or not (np.nan_to_num(r[j, kept], nan=0.0) > self.threshold).any():
                kept.append(int(j))
        return [X.columns[j] for j in kept]


def cox_wald(Z: np.ndarray, time: np.ndarray, event: np.ndarray, n_iter: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Univariate Cox coefficient and Wald p of every column of ``Z`` (no missing values), Breslow ties, by
    Newton-Raphson on all columns at once."""
    order = np.argsort(-time, kind="stable")  # descending time: a cumulative sum gives each risk set
    Z, time, event = Z[order], time[order], event[order].astype(bool)
    last = np.r_[time[1:] != time[:-1], True]  # the last row of each tied time (its risk set includes the ties)
    at = np.minimum.accumulate(np.where(last, np.arange(len(time)), len(time))[::-1])[::-1]  # risk set end
    beta = np.zeros(Z.shape[1])
    info = np.ones(Z.shape[1])
    for _ in range(n_iter):
        w = np.exp(np.clip(Z * beta, -50, 50))
        s0, s1, s2 = (np.cumsum(w * Z**p, axis=0)[at] for p in (0, 1, 2))
        mean = s1 / s0
        score = (Z - mean)[event].sum(axis=0)
        info = (s2 / s0 - mean**2)[event].sum(axis=0)
        step = np.where(info > 0, score / np.where(info > 0, info, 1.0), 0.0)
        beta = np.clip(beta + step, -20, 20)
        if np.abs(step).max() < 1e-8:
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(beta) * np.sqrt(info))
    return beta, np.where(info > 0, p, 1.0)


class UnivariateCox(_ColumnSelector):
    def __init__(self, k: int = 20, score: str = "wald", keep: Sequence[str] = ()):
        self.k = k
        self.score = score
        self.keep = keep

    def _choose(self, X: pd.DataFrame, y: np.ndarray) -> list[str]:
        if self.score not in ("wald", "concordance"):
            raise ValueError(f"unknown score {self.score!r} (known: wald, concordance)")
        Z = X.fillna(X.median()).to_numpy(dtype=float)
        sd = Z.std(axis=0)
        Z = (Z - Z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        event, time = np.asarray(y["event"], bool), np.asarray(y["time"], float)
        if self.score == "wald":
            badness = cox_wald(Z, time, event)[1]
        else:
            badness = -np.array([abs(cindex(y, z) - 0.5) for z in Z.T])
        best = np.argsort(badness, kind="stable")[: self.k]
        return [X.columns[j] for j in best]


class UnivariateAUC(_ColumnSelector):
    """The ``k`` columns whose values, as scores of a binary outcome, have the largest |AUROC - 0.5| (Mann-Whitney,
    ties counted half; median-imputed within the fold): the binary counterpart of :class:`UnivariateCox`."""

    def __init__(self, k: int = 20, keep: Sequence[str] = ()):
        self.k = k
        self.keep = keep

    def _choose(self, X: pd.DataFrame, y: np.ndarray) -> list[str]:
        y = np.asarray(y, dtype=int)
        n1, n0 = int(y.sum()), int(len(y) - y.sum())
        if n1 == 0 or n0 == 0:
            return list(X.columns[: self.k])
        ranks = stats.rankdata(X.fillna(X.median()).to_numpy(dtype=float), axis=0)
        auc = (ranks[y == 1].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
        best = np.argsort(-np.abs(auc - 0.5), kind="stable")[: self.k]
        return [X.columns[j] for j in best]


def _modality_word(column: str, words: Sequence[str]) -> tuple[str, int] | None:
    """The first modality word (``ct``, ``pet``) of a cohort column as a whole ``_``-separated token, and where
    the rest of the name starts."""
    parts = column.split("_")
    for i, part in enumerate(parts):
        if part in words:
            return part, len("_".join(parts[: i + 1])) + 1
    return None


def icc_of_columns(robustness: pd.DataFrame, columns: Sequence[str], file_modality: dict[str, str]) -> pd.Series:
    """The ICC of each cohort column named after a feature of ``robustness`` (columns ``feature``, ``modality``,
    ``icc``; pyradiomics names such as ``original_glcm_Correlation``): a column matches when it holds the modality's
    word (``file_modality``: ``CT`` -> ``ct``) as a token and ends with ``_<feature>``, e.g.
    ``ct_vwmean_original_glcm_Correlation`` or ``delta_rel_ct_largest_original_glcm_Correlation``. Columns without
    a match are left out (they pass the robust filter)."""
    table = robustness.assign(word=robustness["modality"].map(file_modality))
    icc = {(w, f): float(v) for w, f, v in zip(table["word"], table["feature"], table["icc"], strict=True)}
    words = sorted({w for w, _ in icc if isinstance(w, str)})
    out: dict[str, float] = {}
    for column in columns:
        found = _modality_word(column, words)
        if found is None:
            continue
        word, start = found
        rest = column[start:].split("_")
        for i in range(len(rest)):  # every suffix after an underscore: aggregate prefixes (vwmean_, largest_) vary
            if (word, "_".join(rest[i:])) in icc:
                out[column] = icc[(word, "_".join(rest[i:]))]
                break
    return pd.Series(out, dtype=float)
