"""Performance measures of out-of-fold predictions: discrimination, calibration, bootstrap and paired intervals.

Survival: Harrell's and Uno's C, time-dependent AUC and integrated Brier score restricted to the times a test fold
supports, Kaplan-Meier-observed versus predicted survival by risk group and the integrated calibration index (ICI).
Binary: AUROC, AUPRC and Brier score.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import (
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import kaplan_meier_estimator


def cindex(y: np.ndarray, risk: np.ndarray, tied_tol: float = 1e-8) -> float:
    """Harrell's C of ``risk`` (higher = earlier event); NaN when no pair is comparable (e.g. no event) or a risk is
    not finite.

    The value of sksurv's ``concordance_index_censored``, bit for bit, over all pairs at once (it runs inside the
    bootstrap and inner-fold loops, where sksurv's input checks cost 20 times the count): an event is comparable to
    every later time and to censorings at its own time; a pair is concordant when the earlier event has the higher
    risk, and risks within ``tied_tol`` count half (Harrell et al., JAMA 1982).
    """
    event, time, risk = np.asarray(y["event"], bool), np.asarray(y["time"], float), np.asarray(risk, float)
    if not np.isfinite(risk).all():
        return float("nan")
    comparable = event[:, None] & ((time[None, :] > time[:, None]) | ((time[None, :] == time[:, None]) & ~event))
    pairs = int(comparable.sum())
    if pairs == 0:
        return float("nan")
    lower = risk[None, :] - risk[:, None]  # [i, j]: j's risk minus i's, i the earlier event
    tied = np.abs(lower) <= tied_tol
    concordant = int((comparable & (lower < 0) & ~tied).sum())
    return float((concordant + 0.5 * int((comparable & tied).sum())) / pairs)


def uno_cindex(y_train: np.ndarray, y: np.ndarray, risk: np.ndarray, tau: float | None = None) -> float:
    """Uno's IPCW C up to ``tau``, the censoring distribution from ``y_train``; NaN where it cannot be computed."""
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(concordance_index_ipcw(y_train, y, risk, tau=tau)[0])
    except (ValueError, ZeroDivisionError):
        return float("nan")


def supported(times: np.ndarray, y_train: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """Which ``times`` a test fold supports: within its observed follow-up and before the last training time
    (IPCW needs the censoring distribution there)."""
    low, high = y_test["time"].min(), min(y_test["time"].max(), y_train["time"].max())
    return (times >= low) & (times < high)


def _censor_at_training_end(y_train: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """Test times past the last training time, censored there: IPCW weights exist only up to that time, and the
    status of these patients at every supported time is unchanged (alive)."""
    end = y_train["time"].max()
    out = y_test.copy()
    out["event"] &= out["time"] <= end
    out["time"] = np.minimum(out["time"], end)
    return out


def fold_td_auc(y_train: np.ndarray, y_test: np.ndarray, risk: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    """Cumulative/dynamic AUC at each horizon the fold supports, NaN at the others (and where undefined)."""
    auc = np.full(len(horizons), np.nan)
    if not np.isfinite(risk).all():
        return auc
    ok = supported(horizons, y_train, y_test)
    ok &= np.array([(y_test["event"] & (y_test["time"] <= h)).any() and (y_test["time"] > h).any()
                    for h in horizons], dtype=bool)
    if ok.any():
        auc[ok] = cumulative_dynamic_auc(y_train, _censor_at_training_end(y_train, y_test), risk, horizons[ok])[0]
    return auc


def fold_ibs(y_train: np.ndarray, y_test: np.ndarray, survival: np.ndarray, grid: np.ndarray) -> float:
    """Integrated Brier score over the grid times the fold supports (``survival``: ``(n_test, len(grid))``); NaN
    when fewer than two are supported or the predicted survival is not finite (an overflowing linear predictor)."""
    ok = supported(grid, y_train, y_test)
    if ok.sum() < 2 or not np.isfinite(survival[:, ok]).all():
        return float("nan")
    y_test = _censor_at_training_end(y_train, y_test)
    return float(integrated_brier_score(y_train, y_test, survival[:, ok], grid[ok]))


def km_at(y: np.ndarray, horizon: float) -> float:
    """Kaplan-Meier survival at ``horizon``; NaN beyond the last observed time."""
    if horizon > y["time"].max():
        return float("nan")
    time, surv = kaplan_meier_estimator(y["event"], y["time"])
    i = np.searchsorted(time, horizon, side="right") - 1
    return float(surv[i]) if i >= 0 else 1.0


def calibration_table(y: np.ndarray, predicted: np.ndarray, horizon: float, n_groups: int) -> pd.DataFrame:
    """Per quantile group of predicted survival at ``horizon``: n, mean predicted and Kaplan-Meier observed."""
    cuts = np.quantile(predicted, np.linspace(0, 1, n_groups + 1)[1:-1])
    groups = np.searchsorted(cuts, predicted, side="right")
    rows = [{"horizon": horizon, "group": int(g), "n": int((groups == g).sum()),
             "predicted": float(predicted[groups == g].mean()), "observed": km_at(y[groups == g], horizon)}
            for g in np.unique(groups)]
    return pd.DataFrame(rows)


def rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted (natural) cubic spline basis of ``x`` with 3 knots: ``x`` and one non-linear term (Harrell)."""
    t1, t2, t3 = knots
    cube = lambda k: np.maximum(x - k, 0) ** 3  # noqa: E731
    term = (cube(t1) - cube(t2) * (t3 - t1) / (t3 - t2) + cube(t3) * (t2 - t1) / (t3 - t2)) / (t3 - t1) ** 2
    return np.column_stack([x, term])


def ici(y: np.ndarray, predicted: np.ndarray, horizon: float) -> float:
    """Integrated calibration index at ``horizon`` (Austin, Harrell and van Klaveren 2020).

    The observed event probability is smoothed by a Cox model on a restricted cubic spline (knots at the 10th, 50th
    and 90th percentiles) of cloglog(predicted event probability); ICI is the mean absolute difference between the
    smoothed observed and the predicted event probabilities. NaN beyond follow-up or without events.
    """
    if horizon > y["time"].max() or not y["event"].any():
        return float("nan")
    event_p = np.clip(1 - predicted, 1e-6, 1 - 1e-6)
    cloglog = np.log(-np.log(1 - event_p))
    knots = np.percentile(cloglog, [10, 50, 90])
    basis = rcs_basis(cloglog, knots) if np.all(np.diff(knots) > 0) else cloglog[:, None]
    smoother = CoxPHSurvivalAnalysis(alpha=1e-4, ties="efron").fit(basis, y)
    observed = 1 - np.array([fn(min(horizon, fn.x[-1])) for fn in smoother.predict_survival_function(basis)])
    return float(np.mean(np.abs(observed - event_p)))


def _average_precision(y: np.ndarray, prob: np.ndarray) -> float:
    """Area under the precision-recall curve as a step sum over distinct thresholds (as scikit-learn's AP)."""
    order = np.argsort(-prob, kind="stable")
    y, prob = y[order], prob[order]
    last = np.r_[np.flatnonzero(np.diff(prob)), len(y) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    precision, recall = tp / (last + 1), tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0, recall]) * precision))


def binary_scores(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """AUROC (Mann-Whitney, ties counted half), AUPRC (average precision) and Brier score; the first two NaN
    when a class is missing. Vectorised: it runs inside bootstrap loops."""
    y = np.asarray(y, dtype=int)
    brier = float(np.mean((prob - y) ** 2))
    n1 = y.sum()
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return {"auroc": float("nan"), "auprc": float("nan"), "brier": brier}
    auroc = (rankdata(prob)[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return {"auroc": float(auroc), "auprc": _average_precision(y, prob), "brier": brier}


def bootstrap(statistic: Callable[[np.ndarray], float | np.ndarray], n: int, n_boot: int = 1000, seed: int = 0,
              level: float = 0.95) -> tuple:
    """Percentile interval of ``statistic(indices)`` over ``n_boot`` resamples of ``n`` patients (NaNs skipped):
    two floats, or two arrays for a vector statistic.

    Pass a statistic of two predictions on the same indices for a paired interval.
    """
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(idx) for idx in rng.integers(0, n, size=(n_boot, n))], dtype=float)
    tail = (1 - level) / 2 * 100
    with warnings.catch_warnings():  # all-NaN: no resample had a defined value
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(stats, [tail, 100 - tail], axis=0)
    return (float(lo), float(hi)) if stats.ndim == 1 else (lo, hi)


def bootstrap_ci(y: np.ndarray, risk: np.ndarray, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of Harrell's C over resamples of patients (resamples without a pair skipped)."""
    return bootstrap(lambda idx: cindex(y[idx], risk[idx]), len(y), n_boot, seed, level)


def paired_gain(score: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray, prediction: np.ndarray,
                reference: np.ndarray, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """``(gain, lo, hi)``: ``score`` of ``prediction`` minus that of ``reference`` on the same patients, with the
    percentile interval over paired bootstrap resamples (e.g. the C-index gain of clinical + imaging over clinical)."""
    gain = score(y, prediction) - score(y, reference)
    lo, hi = bootstrap(lambda i: score(y[i], prediction[i]) - score(y[i], reference[i]), len(y), n_boot, seed)
    return gain, lo, hi


def auroc(y: np.ndarray, prob: np.ndarray) -> float:
    return binary_scores(y, prob)["auroc"]
