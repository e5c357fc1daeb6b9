"""The models: scikit-learn estimators whose preprocessing is fitted inside every (outer and inner) fold."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis

from wbrad.model.features import output_scales, preprocessor
from wbrad.model.metrics import cindex

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


def _penalised_logistic(settings: dict, seed: int) -> GridSearchCV:
    """Penalised logistic regression (ridge by default, elastic net with ``l1_ratio`` > 0); C chosen by inner CV
    over the whole Pipeline, so the preprocessing is refitted in every inner fold."""
    spec = settings.get("logistic", {})
    l1_ratio = spec.get("l1_ratio", 0.0)
    logistic = LogisticRegression(l1_ratio=l1_ratio, solver="saga" if l1_ratio > 0 else "lbfgs", max_iter=5000,
                                  random_state=seed)
    pipe = Pipeline([("pre", preprocessor(settings.get("transform", "yeo-johnson"))), ("model", logistic)])
    grid = {"model__C": list(np.logspace(-3, 1, spec.get("n_cs", 8)))}
    return GridSearchCV(pipe, grid, scoring="roc_auc", error_score=np.nan,
                        cv=StratifiedKFold(spec.get("inner_folds", 3), shuffle=True, random_state=seed))


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


def _parts(fitted: BaseEstimator) -> tuple[ColumnTransformer, BaseEstimator]:
    """The fitted preprocessor and final estimator of any model of :func:`make_model`."""
    if isinstance(fitted, CoxnetCV):
        return fitted.pre_, fitted
    if isinstance(fitted, GridSearchCV):
        fitted = fitted.best_estimator_
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
    if isinstance(fitted, CoxnetCV):
        return {"alpha": fitted.alpha_}
    if isinstance(fitted, GridSearchCV):
        return {k.removeprefix("model__"): float(v) for k, v in fitted.best_params_.items()}
    return {}
