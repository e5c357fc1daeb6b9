"""Selection steps: each filter's choice on a hand-built matrix, the vectorised Cox against scikit-survival, and a
Pipeline of all of them with a Cox model through cross-validation on 200 columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from wbrad.model.selection import CorrelationFilter, NearZeroVariance, RobustFeatureFilter, UnivariateCox, cox_wald


def _matrix(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    volume = rng.lognormal(2, 1, n)
    base = rng.normal(0, 1, n)
    return pd.DataFrame({
        "volume_ml": volume,
        "surrogate": volume**1.5 + rng.normal(0, 0.01, n),  # |r| with volume ~1
        "texture_a": base, "texture_b": base + rng.normal(0, 0.05, n),  # a correlated pair, neither volume-like
        "independent": rng.normal(0, 1, n),
        "constant": np.ones(n), "rare": np.r_[np.zeros(n - 2), 1.0, 2.0],  # near-zero variance
        "site": rng.choice(["lung", "liver"], n),  # non-numeric: always passes
    })


def test_near_zero_variance_drops_constant_and_rare_columns():
    X = _matrix()
    step = NearZeroVariance().fit(X)
    assert step.dropped_ == ["constant", "rare"]
    kept = ["volume_ml", "surrogate", "texture_a", "texture_b", "independent", "site"]
    assert list(step.transform(X).columns) == kept
    assert NearZeroVariance(keep=["rare"]).fit(X).dropped_ == ["constant"]


def test_robust_filter_drops_low_icc_and_keeps_unknown():
    icc = pd.Series({"texture_a": 0.95, "texture_b": 0.6, "independent": 0.74, "volume_ml": 0.99})
    assert RobustFeatureFilter(icc, threshold=0.75).fit(_matrix()).dropped_ == ["texture_b", "independent"]


def test_correlation_filter_keeps_the_more_robust_or_the_less_volume_like():
    X = _matrix().drop(columns=["constant", "rare"])
    # no ICC: the pair's member less correlated with volume stays; volume beats its surrogate
    by_volume = CorrelationFilter(0.9, volume="volume_ml").fit(X)
    r = X[["texture_a", "texture_b"]].corrwith(X["volume_ml"], method="spearman").abs()
    less_volume_like = r.idxmin()
    assert set(by_volume.dropped_) == {"surrogate", r.idxmax()} and less_volume_like in by_volume.columns_
    # with an ICC, the more robust member stays whatever its volume correlation
    icc = pd.Series({"texture_a": 0.8, "texture_b": 0.95})
    assert set(CorrelationFilter(0.9, icc=icc, volume="volume_ml").fit(X).dropped_) == {"surrogate", "texture_a"}
    assert set(CorrelationFilter(0.9).fit(X).dropped_) == {"surrogate", "texture_b"}  # column order decides


def _survival(n: int = 150, p: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(0, 1, (n, p)), columns=[f"f{i:03d}" for i in range(p)])
    X.iloc[:, 190:] = np.round(X.iloc[:, 190:] * 0)  # 10 constant columns
    risk = 1.0 * X["f000"] - 0.8 * X["f001"]
    time = np.round(rng.exponential(np.exp(-risk)) * 100) + 1  # ties on purpose
    event = rng.random(n) < 0.75
    X.iloc[rng.integers(0, n, 5), 3] = np.nan  # a few missing values
    return X, Surv.from_arrays(event=event, time=time)


def test_vectorised_cox_equals_scikit_survival_and_univariate_cox_finds_the_signal():
    X, y = _survival()
    Z = X.iloc[:, :4].fillna(0).to_numpy()
    beta, p = cox_wald(Z, y["time"], y["event"])
    ref = [CoxPHSurvivalAnalysis(ties="breslow").fit(Z[:, [j]], y).coef_[0] for j in range(4)]
    assert beta == pytest.approx(ref, abs=1e-6)
    assert p[0] < 1e-6 and p[1] < 1e-4
    for score in ("wald", "concordance"):
        assert set(UnivariateCox(k=2, score=score).fit(X, y).columns_) == {"f000", "f001"}


def test_pipeline_of_all_filters_and_cox_runs_in_cross_validation_on_200_columns():
    X, y = _survival()
    icc = pd.Series(np.linspace(1.0, 0.5, X.shape[1]), index=X.columns)  # the last 40 below 0.6
    pipe = Pipeline([
        ("nzv", NearZeroVariance()), ("robust", RobustFeatureFilter(icc, 0.6)), ("corr", CorrelationFilter(0.9, icc)),
        ("cox_k", UnivariateCox(k=10)), ("impute", _MedianImputer()), ("scale", StandardScaler()),
        ("model", CoxPHSurvivalAnalysis(alpha=0.1)),
    ])
    scores = cross_val_score(pipe, X, y, cv=KFold(5, shuffle=True, random_state=0))
    assert np.isfinite(scores).all() and scores.mean() > 0.6  # Harrell's C (the estimator's score)
    fitted = pipe.fit(X, y)
    assert "f000" in fitted["cox_k"].columns_ and len(fitted["cox_k"].columns_) == 10
    assert not set(fitted["nzv"].columns_) & {f"f{i}" for i in range(190, 200)}


class _MedianImputer(NearZeroVariance):
    """Median imputation fitted on the fold (the project's preprocessor does this in the real Pipelines)."""

    def fit(self, X: pd.DataFrame, y: object = None) -> _MedianImputer:
        self.median_ = X.median()
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.fillna(self.median_)
