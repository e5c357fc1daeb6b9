"""Repeated stratified K-fold validation: out-of-fold predictions and the per-fold measures that need the training fold.

Every hyper-parameter search happens inside the model's ``fit`` (see :mod:`wbrad.model.pipelines`), so each outer
fold refits the whole pipeline, inner search included: repeated nested cross-validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import RepeatedStratifiedKFold

from wbrad.model.metrics import (
    binary_scores,
    bootstrap,
    bootstrap_ci,
    calibration_table,
    cindex,
    fold_ibs,
    fold_td_auc,
    ici,
    uno_cindex,
)
from wbrad.model.pipelines import unwrap


@dataclass
class OutOfFold:
    """Out-of-fold predictions over ``repeats`` and the per-fold measures (rows: repeat x fold)."""

    risk: np.ndarray  # (repeats, n): risk score (survival) or probability of the event (binary)
    survival: np.ndarray | None = None  # (repeats, n, len(grid)): predicted survival at the grid times
    fold_auc: np.ndarray | None = None  # (repeats * folds, len(horizons)), NaN where a fold does not support a horizon
    fold_ibs: np.ndarray | None = None  # (repeats * folds,)


def time_grid(y: np.ndarray, horizons: list[float], n: int = 20) -> np.ndarray:
    """Times for survival curves and the integrated Brier score: quantiles 5-95 % of observed times, and horizons."""
    return np.unique(np.r_[np.quantile(y["time"], np.linspace(0.05, 0.95, n)), horizons])


def survival_at(fitted: BaseEstimator, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Predicted survival ``(len(X), len(times))`` as a step function (1 before the first training event time)."""
    model = unwrap(fitted)  # a model after harmonisation and selection steps
    final = model if hasattr(model, "unique_times_") else model[-1]
    curves = fitted.predict_survival_function(X, return_array=True)
    index = np.searchsorted(final.unique_times_, times, side="right") - 1
    return np.where(index >= 0, curves[:, np.maximum(index, 0)], 1.0)


def _fit_predict(model: BaseEstimator, X: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                 grid: np.ndarray | None, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        fitted = clone(model).fit(X.iloc[train], y[train])
        if grid is None:
            return fitted.predict_proba(X.iloc[test])[:, 1], None
        return fitted.predict(X.iloc[test]), survival_at(fitted, X.iloc[test], grid)
    except Exception as error:  # name the fold; the cause stays chained
        raise RuntimeError(f"{where}: fitting failed: {error}") from error


def cross_validate(model: BaseEstimator, X: pd.DataFrame, y: np.ndarray, cv: dict, horizons: list[float] = (),
                   n_jobs: int = 1, where: str = "") -> OutOfFold:
    """Repeated K-fold stratified by event (or class), split seeds from ``cv['seed']``.

    Survival targets (structured arrays) also get survival curves and per-fold td-AUC and integrated Brier score.
    """
    folds, repeats, seed = cv.get("folds", 5), cv.get("repeats", 3), cv.get("seed", 0)
    survival = y.dtype.names is not None
    strata = y["event"] if survival else y
    grid = time_grid(y, list(horizons)) if survival else None
    splits = list(RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed).split(X, strata))
    predictions = Parallel(n_jobs=n_jobs)(
        delayed(_fit_predict)(model, X, y, train, test, grid, f"{where} repeat {i // folds} fold {i % folds}")
        for i, (train, test) in enumerate(splits))
    out = OutOfFold(np.full((repeats, len(X)), np.nan))
    if survival:
        out.survival = np.full((repeats, len(X), len(grid)), np.nan)
        h = np.asarray(horizons, float)
        out.fold_auc = np.array(
            [fold_td_auc(y[tr], y[te], p[0], h) for (tr, te), p in zip(splits, predictions, strict=True)]
        )
        out.fold_ibs = np.array(
            [fold_ibs(y[tr], y[te], p[1], grid) for (tr, te), p in zip(splits, predictions, strict=True)]
        )
    for i, ((_, test), (risk, surv)) in enumerate(zip(splits, predictions, strict=True)):
        out.risk[i // folds, test] = risk
        if survival:
            out.survival[i // folds, test] = surv
    return out


def _uno_tau(y: np.ndarray, horizons: list[float]) -> float | None:
    inside = [h for h in horizons if h < y["time"].max()]
    return max(inside) if inside else None


def survival_summary(
    oof: OutOfFold, y: np.ndarray, horizons: list[float], cv: dict, n_groups: int = 4
) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics of one model and feature set, and its calibration table (per horizon and predicted-risk group).

    C-indices are means over repeats of the C of each repeat's pooled out-of-fold risks, their intervals the
    bootstrap of the repeat-averaged risk; Uno's C is truncated at the last horizon inside follow-up. td-AUC and IBS
    are means over the folds that support them; calibration uses the repeat-averaged predicted survival.
    """
    n_boot, seed = cv.get("bootstrap", 1000), cv.get("seed", 0)
    risk, tau = oof.risk.mean(axis=0), _uno_tau(y, horizons)
    scores = {"cindex": float(np.mean([cindex(y, r) for r in oof.risk]))}
    scores["cindex_lo"], scores["cindex_hi"] = bootstrap_ci(y, risk, n_boot, seed)
    scores["uno_cindex"] = float(np.mean([uno_cindex(y, y, r, tau) for r in oof.risk]))
    scores["uno_lo"], scores["uno_hi"] = bootstrap(
        lambda i: uno_cindex(y, y[i], risk[i], tau), len(y), cv.get("bootstrap_uno", 200), seed
    )
    scores["ibs"] = float(np.nanmean(oof.fold_ibs)) if np.isfinite(oof.fold_ibs).any() else float("nan")
    grid = time_grid(y, horizons)
    surv = oof.survival.mean(axis=0)
    tables = []
    for j, h in enumerate(horizons):
        column = oof.fold_auc[:, j]
        scores[f"auc_{h:g}"] = float(np.nanmean(column)) if np.isfinite(column).any() else float("nan")
        predicted = surv[:, np.searchsorted(grid, h)]
        scores[f"ici_{h:g}"] = ici(y, predicted, h)
        tables.append(calibration_table(y, predicted, h, n_groups))
    return scores, pd.concat(tables, ignore_index=True)


def binary_summary(oof: OutOfFold, y: np.ndarray, cv: dict) -> dict[str, float]:
    """AUROC, AUPRC and Brier score (means over repeats) with bootstrap intervals of the repeat-averaged probability."""
    prob, names = oof.risk.mean(axis=0), ("auroc", "auprc", "brier")
    per_repeat = pd.DataFrame([binary_scores(y, p) for p in oof.risk]).mean()
    lo, hi = bootstrap(
        lambda i: list(binary_scores(y[i], prob[i]).values()), len(y), cv.get("bootstrap", 1000), cv.get("seed", 0)
    )
    return {
        key: float(value)
        for j, k in enumerate(names)
        for key, value in ((k, per_repeat[k]), (f"{k}_lo", lo[j]), (f"{k}_hi", hi[j]))
    }


def validate(
    model: BaseEstimator, X: pd.DataFrame, y: np.ndarray, cv: dict, n_jobs: int = 1, where: str = ""
) -> tuple[dict[str, float], np.ndarray]:
    """``({cindex, cindex_lo, cindex_hi}, oof risks (repeats, n))``: Harrell's C only, for quick checks."""
    oof = cross_validate(model, X, y, cv, (), n_jobs, where)
    risk = oof.risk.mean(axis=0)
    lo, hi = bootstrap_ci(y, risk, cv.get("bootstrap", 1000), cv.get("seed", 0))
    return {"cindex": float(np.mean([cindex(y, r) for r in oof.risk])), "cindex_lo": lo, "cindex_hi": hi}, oof.risk
