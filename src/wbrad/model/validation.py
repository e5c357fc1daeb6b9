"""Repeated stratified K-fold validation: out-of-fold risks, Harrell's C-index and its bootstrap interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import RepeatedStratifiedKFold
from sksurv.metrics import concordance_index_censored


def cindex(y: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C of ``risk`` (higher = earlier event); NaN when no pair is comparable (e.g. no event)."""
    try:
        with np.errstate(invalid="ignore"):  # 0 / 0 when no pair is comparable
            return float(concordance_index_censored(y["event"], y["time"], risk)[0])
    except (ValueError, ZeroDivisionError):  # all censored / no comparable pair
        return float("nan")


def _fit_predict(model: BaseEstimator, X: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                 where: str) -> np.ndarray:
    try:
        return clone(model).fit(X.iloc[train], y[train]).predict(X.iloc[test])
    except Exception as error:  # name the fold; the cause stays chained
        raise RuntimeError(f"{where}: fitting failed: {error}") from error


def oof_risk(model: BaseEstimator, X: pd.DataFrame, y: np.ndarray, folds: int, repeats: int, seed: int,
             n_jobs: int = 1, where: str = "") -> np.ndarray:
    """Out-of-fold risks, shape ``(repeats, n)``: repeated K-fold stratified by event, split seeds from ``seed``."""
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    splits = list(splitter.split(X, y["event"]))
    predictions = Parallel(n_jobs=n_jobs)(
        delayed(_fit_predict)(model, X, y, train, test, f"{where} repeat {i // folds} fold {i % folds}")
        for i, (train, test) in enumerate(splits))
    risk = np.full((repeats, len(X)), np.nan)
    for i, ((_, test), predicted) in enumerate(zip(splits, predictions)):
        risk[i // folds, test] = predicted
    return risk


def bootstrap_ci(y: np.ndarray, risk: np.ndarray, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of Harrell's C over ``n_boot`` resamples of patients (resamples without a pair skipped)."""
    rng = np.random.default_rng(seed)
    stats = [cindex(y[idx], risk[idx]) for idx in rng.integers(0, len(y), size=(n_boot, len(y)))]
    tail = (1 - level) / 2 * 100
    lo, hi = np.nanpercentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)


def validate(model: BaseEstimator, X: pd.DataFrame, y: np.ndarray, cv: dict, n_jobs: int = 1,
             where: str = "") -> tuple[dict[str, float], np.ndarray]:
    """``({cindex, cindex_lo, cindex_hi}, oof risks (repeats, n))`` for one model and feature set.

    ``cindex`` is the mean over repeats of the C of each repeat's pooled out-of-fold risks; the interval is the
    bootstrap of the C of the repeat-averaged risk.
    """
    folds, repeats, seed = cv.get("folds", 5), cv.get("repeats", 3), cv.get("seed", 0)
    risk = oof_risk(model, X, y, folds, repeats, seed, n_jobs, where)
    lo, hi = bootstrap_ci(y, risk.mean(axis=0), cv.get("bootstrap", 1000), seed)
    return {"cindex": float(np.mean([cindex(y, r) for r in risk])), "cindex_lo": lo, "cindex_hi": hi}, risk
