"""The models: scikit-learn estimators whose preprocessing is fitted inside every (outer and inner) fold."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis

from wbrad.model.features import output_scales, preprocessor
from wbrad.model.harmonise import ComBat
from wbrad.model.metrics import auroc, cindex
from wbrad.model.selection import (
    CorrelationFilter,
    NearZeroVariance,
    RobustFeatureFilter,
    UnivariateAUC,
    UnivariateCox,
)

SURVIVAL_MODELS = ("cox", "coxnet", "rsf", "gbs")
BINARY_MODELS = ("logistic", "rf")


def _fit_path(Z: np.ndarray, y: np.ndarray, l1_ratio: float, alphas: np.ndarray | None,
              n_alphas: int) -> CoxnetSurvivalAnalysis:
    """The elastic-net path; when its weakest penalties overflow, the path is shortened (strongest alphas kept)."""
    min_ratio: str | float = "auto"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="all coefficients are zero")
        warnings.filterwarnings("ignore", message="overflow encountered in exp", category=RuntimeWarning)
        while True:
            model = CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, alphas=alphas, n_alphas=n_alphas,
                                           alpha_min_ratio=min_ratio, fit_baseline_model=True)
            try:
                return model.fit(Z, y)
            except ArithmeticError:
                if alphas is not None and len(alphas) >= 4:
                    alphas = alphas[: int(len(alphas) * 0.8)]
                elif alphas is None and min_ratio in ("auto", 1e-3):
                    min_ratio = 1e-3 if min_ratio == "auto" else 1e-2
                else:
                    raise


class CoxnetCV(BaseEstimator):
    """Elastic-net Cox, penalty chosen by inner stratified K-fold CV (Harrell's C), preprocessing inside each fold.

    Honest and fast: in each inner fold the preprocessing is refitted on the inner training part and the whole
    penalty path is fitted once (coordinate descent with warm starts), then scored at every alpha of the path; the
    cost is ``inner_folds + 2`` path fits instead of ``inner_folds x n_alphas`` single-alpha fits.
    """

    def __init__(self, transform: str = "yeo-johnson", l1_ratio: float = 0.5, alphas: list[float] | None = None,
                 n_alphas: int = 100, inner_folds: int = 3, seed: int = 0):
        self.transform = transform
        self.l1_ratio = l1_ratio
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.inner_folds = inner_folds
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> CoxnetCV:
        self.pre_: ColumnTransformer = preprocessor(self.transform).fit(X)
        alphas = None if self.alphas is None else np.asarray(self.alphas, float)
        self.path_ = _fit_path(self.pre_.transform(X), y, self.l1_ratio, alphas, self.n_alphas)
        self.inner_scores_ = self._inner_scores(X, y, self.path_.alphas_)
        with warnings.catch_warnings():  # alphas beyond every inner path's end are all NaN
            warnings.filterwarnings("ignore", message="Mean of empty slice", category=RuntimeWarning)
            mean = np.nanmean(self.inner_scores_, axis=0)
        best = int(np.nanargmax(mean)) if np.isfinite(mean).any() else 0  # no inner score: the strongest penalty
        self.alpha_: float = float(self.path_.alphas_[best])
        self.coef_: np.ndarray = self.path_.coef_[:, best]
        return self

    def _inner_scores(self, X: pd.DataFrame, y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
        """Harrell's C, shape ``(inner_folds, len(alphas))``; NaN where the path stopped short, or for an inner fold
        whose training part has no event, or that a training part of fewer patients than folds cannot fill (tiny
        cohorts)."""
        folds = min(self.inner_folds, len(y) // 2)  # every inner training part needs two patients (tiny cohorts)
        scores = np.full((self.inner_folds, len(alphas)), np.nan)
        if folds < 2:
            return scores
        events = int(y["event"].sum())
        stratify = min(events, len(y) - events) >= folds  # else too few of a class (tiny cohorts)
        splitter = (StratifiedKFold if stratify else KFold)(folds, shuffle=True, random_state=self.seed)
        for k, (train, test) in enumerate(splitter.split(X, y["event"])):
            if not y["event"][train].any():
                continue
            pre = preprocessor(self.transform).fit(X.iloc[train])
            path = _fit_path(pre.transform(X.iloc[train]), y[train], self.l1_ratio, alphas, self.n_alphas)
            Z = pre.transform(X.iloc[test])
            scores[k, : len(path.alphas_)] = [cindex(y[test], path.predict(Z, alpha=a)) for a in path.alphas_]
        return scores

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.path_.predict(self.pre_.transform(X), alpha=self.alpha_)

    def predict_survival_function(self, X: pd.DataFrame, return_array: bool = False):
        return self.path_.predict_survival_function(self.pre_.transform(X), alpha=self.alpha_,
                                                    return_array=return_array)

    @property
    def unique_times_(self) -> np.ndarray:
        return self.path_.unique_times_

    def get_feature_names_out(self) -> np.ndarray:
        return self.pre_.get_feature_names_out()


class LogisticCV(ClassifierMixin, BaseEstimator):
    """Penalised logistic regression (ridge by default, elastic net with ``l1_ratio`` > 0), C chosen by inner
    stratified K-fold CV (AUROC) with the preprocessing refitted on each inner training part.

    As :class:`CoxnetCV`: each inner fold fits the preprocessor once and every C on its output, so the cost is
    ``inner_folds + 1`` preprocessor fits instead of one per fold and C (a grid search over the whole Pipeline).
    """

    def __init__(self, transform: str = "yeo-johnson", l1_ratio: float = 0.0, n_cs: int = 8, inner_folds: int = 3,
                 seed: int = 0):
        self.transform = transform
        self.l1_ratio = l1_ratio
        self.n_cs = n_cs
        self.inner_folds = inner_folds
        self.seed = seed

    def _logistic(self, C: float) -> LogisticRegression:
        solver = "saga" if self.l1_ratio > 0 else "newton-cholesky"
        return LogisticRegression(C=C, l1_ratio=self.l1_ratio, solver=solver, max_iter=5000, random_state=self.seed)

    def _inner_scores(self, X: pd.DataFrame, y: np.ndarray, cs: np.ndarray) -> np.ndarray:
        """AUROC per inner fold and C; NaN where a part lacks a class (too few of a class for the folds)."""
        folds = min(self.inner_folds, int(np.bincount(y, minlength=2).min()))
        scores = np.full((self.inner_folds, len(cs)), np.nan)
        if folds < 2:
            return scores
        for k, (train, test) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=self.seed).split(X, y)):
            pre = preprocessor(self.transform).fit(X.iloc[train])
            Z, Z_test = pre.transform(X.iloc[train]), pre.transform(X.iloc[test])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                scores[k] = [auroc(y[test], self._logistic(c).fit(Z, y[train]).predict_proba(Z_test)[:, 1])
                             for c in cs]
        return scores

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LogisticCV:
        y = np.asarray(y, dtype=int)
        self.classes_ = np.unique(y)
        cs = np.logspace(-3, 1, self.n_cs)
        self.inner_scores_ = self._inner_scores(X, y, cs)
        with warnings.catch_warnings():  # no inner score at all: the strongest penalty
            warnings.filterwarnings("ignore", message="Mean of empty slice", category=RuntimeWarning)
            mean = np.nanmean(self.inner_scores_, axis=0)
        self.C_: float = float(cs[int(np.nanargmax(mean))] if np.isfinite(mean).any() else cs[0])
        self.pre_: ColumnTransformer = preprocessor(self.transform).fit(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_ = self._logistic(self.C_).fit(self.pre_.transform(X), y)
        self.coef_ = self.model_.coef_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self.pre_.transform(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(self.pre_.transform(X))


def _penalised_logistic(settings: dict, seed: int) -> LogisticCV:
    spec = settings.get("logistic", {})
    return LogisticCV(settings.get("transform", "yeo-johnson"), spec.get("l1_ratio", 0.0), spec.get("n_cs", 8),
                      spec.get("inner_folds", 3), seed)


def make_model(name: str, settings: dict, seed: int = 0, n_jobs: int = 1) -> BaseEstimator:
    """An unfitted model by name; survival: cox (unpenalised, Efron ties), coxnet, rsf, gbs; binary: logistic, rf."""
    spec = settings.get(name, {})
    if name == "cox":
        return Pipeline([("pre", preprocessor()), ("model", CoxPHSurvivalAnalysis(ties="efron"))])
    if name == "coxnet":
        return CoxnetCV(transform=settings.get("transform", "yeo-johnson"), l1_ratio=spec.get("l1_ratio", 0.5),
                        alphas=spec.get("alphas"), n_alphas=spec.get("n_alphas", 100),
                        inner_folds=spec.get("inner_folds", 3), seed=seed)
    if name == "rsf":
        forest = RandomSurvivalForest(n_estimators=spec.get("n_estimators", 200),
                                      min_samples_leaf=spec.get("min_samples_leaf", 5),
                                      max_features=spec.get("max_features", "sqrt"), n_jobs=n_jobs, random_state=seed)
        return Pipeline([("pre", preprocessor()), ("model", forest)])
    if name == "gbs":
        boosting = GradientBoostingSurvivalAnalysis(
            n_estimators=spec.get("n_estimators", 100), learning_rate=spec.get("learning_rate", 0.05),
            max_depth=spec.get("max_depth", 2), subsample=spec.get("subsample", 0.8),
            max_features=spec.get("max_features", "sqrt"), random_state=seed)
        return Pipeline([("pre", preprocessor()), ("model", boosting)])
    if name == "logistic":
        return _penalised_logistic(settings, seed)
    if name == "rf":
        forest = RandomForestClassifier(n_estimators=spec.get("n_estimators", 300),
                                        min_samples_leaf=spec.get("min_samples_leaf", 3),
                                        max_features=spec.get("max_features", "sqrt"), n_jobs=n_jobs,
                                        random_state=seed)
        return Pipeline([("pre", preprocessor()), ("model", forest)])
    raise ValueError(f"unknown model {name!r} (known: {', '.join(SURVIVAL_MODELS + BINARY_MODELS)})")


ESTIMATOR = "estimator"  # the name of the model step after harmonisation and selection (see with_steps)
SELECT_KEYS = ("near_zero_variance", "robust_icc", "correlation", "univariate")


def feature_steps(select: dict | None, binary: bool = False, icc: pd.Series | None = None,
                  batch: str | None = None, harmonised: list[str] | None = None) -> list[tuple[str, BaseEstimator]]:
    """The steps before a model, each fitted on the training rows only (inside every fold):

    ``combat`` (when ``batch`` names the batch column of X; ``harmonised``: the features it adjusts, the batch column
    dropped after it), then, from a feature set's ``select`` block, ``near_zero_variance`` (caret's rule),
    ``robust_icc`` (threshold on ``icc``; skipped without one), ``correlation`` (|Spearman r| threshold, keeping
    the more robust then the less ``volume``-correlated column), ``univariate`` (k best by univariate Cox Wald p, or
    |AUROC - 0.5| for binary endpoints). ``keep`` columns pass every filter.
    """
    select = select or {}
    keep = tuple(select.get("keep", ()))
    steps: list[tuple[str, BaseEstimator]] = []
    if batch is not None:
        steps.append(("combat", ComBat(batch=batch, features=harmonised)))
    if select.get("near_zero_variance", False):
        steps.append(("near_zero_variance", NearZeroVariance(keep=keep)))
    if select.get("robust_icc") is not None and icc is not None and len(icc):
        steps.append(("robust_icc", RobustFeatureFilter(icc, select["robust_icc"], keep=keep)))
    if select.get("correlation") is not None:
        steps.append(("correlation", CorrelationFilter(select["correlation"], icc, select.get("volume"), keep=keep)))
    if select.get("univariate") is not None:
        k = int(select["univariate"])
        steps.append(("univariate", UnivariateAUC(k, keep=keep) if binary else UnivariateCox(k, keep=keep)))
    return steps


def with_steps(model: BaseEstimator, steps: list[tuple[str, BaseEstimator]]) -> BaseEstimator:
    """``model`` after ``steps`` (:func:`feature_steps`) in one Pipeline, or ``model`` itself without steps."""
    return Pipeline([*steps, (ESTIMATOR, model)]) if steps else model


def unwrap(fitted: BaseEstimator) -> BaseEstimator:
    """The model of :func:`make_model` inside a :func:`with_steps` Pipeline (``fitted`` itself otherwise)."""
    if isinstance(fitted, Pipeline) and fitted.steps[-1][0] == ESTIMATOR:
        return fitted[-1]
    return fitted


def selected_features(fitted: BaseEstimator, features: list[str]) -> list[str]:
    """The columns a fitted :func:`with_steps` Pipeline passes to its model (``features`` without steps)."""
    if isinstance(fitted, Pipeline) and fitted.steps[-1][0] == ESTIMATOR and len(fitted) > 1:
        return list(fitted[-2].get_feature_names_out())
    return list(features)


def _parts(fitted: BaseEstimator) -> tuple[ColumnTransformer, BaseEstimator]:
    """The fitted preprocessor and final estimator of any model of :func:`make_model` (or :func:`with_steps`)."""
    fitted = unwrap(fitted)
    if isinstance(fitted, CoxnetCV | LogisticCV):
        return fitted.pre_, fitted
    return fitted[0], fitted[-1]


def coefficients(fitted: BaseEstimator, original_scale: bool = False) -> pd.Series | None:
    """Coefficients of a fitted linear model by output feature name (None for models without coefficients).

    By default per standard deviation of the (transformed) feature; ``original_scale`` divides by the scaler's SD.
    """
    pre, final = _parts(fitted)
    if not hasattr(final, "coef_"):
        return None
    coef = pd.Series(np.ravel(final.coef_), index=pre.get_feature_names_out())
    return coef / output_scales(pre) if original_scale else coef


def importances(fitted: BaseEstimator) -> pd.Series:
    """Feature ranking score by output feature name: |coefficient| per SD, or the trees' impurity importance.

    Random survival forests have no impurity importance; their score is NaN (use permutation importance).
    """
    coef = coefficients(fitted)
    if coef is not None:
        return coef.abs()
    pre, final = _parts(fitted)
    values = getattr(final, "feature_importances_", None) if not isinstance(final, RandomSurvivalForest) else None
    return pd.Series(np.nan if values is None else values, index=pre.get_feature_names_out(), dtype=float)


def hyperparameters(fitted: BaseEstimator) -> dict:
    """The hyper-parameters chosen by inner CV (empty when there were none)."""
    fitted = unwrap(fitted)
    if isinstance(fitted, CoxnetCV):
        return {"alpha": fitted.alpha_}
    if isinstance(fitted, LogisticCV):
        return {"C": fitted.C_}
    return {}
