"""The survival models, each a scikit-learn Pipeline so that all preprocessing is fitted inside the folds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sksurv.ensemble import RandomSurvivalForest
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis

from wbrad.model.features import output_scales, preprocessor


class CoxnetCV(BaseEstimator):
    """Elastic-net Cox whose penalty alpha is chosen by inner K-fold CV (Harrell's C) over the path's alphas.

    scikit-survival's documented pattern: fit once to get the path's ``alphas_`` (unless ``alphas`` is given), then
    ``GridSearchCV`` over ``[[a] for a in alphas]``. It is the last step of a Pipeline, so it sees features already
    preprocessed on the whole (outer) training fold: the outer validation stays leak-free, and the inner search is
    about 10 times faster than refitting the preprocessing for every alpha and inner fold.
    """

    def __init__(self, l1_ratio: float = 0.5, alphas: list[float] | None = None, n_alphas: int = 100,
                 inner_folds: int = 3, seed: int = 0, n_jobs: int = 1):
        self.l1_ratio = l1_ratio
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.inner_folds = inner_folds
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, X: np.ndarray, y: np.ndarray) -> CoxnetCV:
        coxnet = CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, n_alphas=self.n_alphas, fit_baseline_model=True)
        alphas = self.alphas if self.alphas is not None else clone(coxnet).fit(X, y).alphas_
        search = GridSearchCV(coxnet, {"alphas": [[a] for a in alphas]},
                              cv=KFold(self.inner_folds, shuffle=True, random_state=self.seed),
                              error_score=np.nan, n_jobs=self.n_jobs)
        with warnings.catch_warnings():  # expected along a path: failed fits score NaN and are never chosen
            warnings.filterwarnings("ignore", message="all coefficients are zero")
            warnings.filterwarnings("ignore", category=FitFailedWarning)
            warnings.filterwarnings("ignore", message="One or more of the test scores are non-finite")
            warnings.filterwarnings("ignore", message="overflow encountered in exp", category=RuntimeWarning)
            search.fit(X, y)
        self.best_estimator_: CoxnetSurvivalAnalysis = search.best_estimator_
        self.alpha_: float = float(search.best_params_["alphas"][0])
        self.coef_: np.ndarray = self.best_estimator_.coef_[:, 0]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.best_estimator_.predict(X)


def make_model(name: str, settings: dict, seed: int = 0, n_jobs: int = 1) -> BaseEstimator:
    """An unfitted model by name: ``cox`` (unpenalised, Efron ties), ``coxnet`` (elastic net, inner CV) or ``rsf``."""
    if name == "cox":
        return Pipeline([("pre", preprocessor()), ("model", CoxPHSurvivalAnalysis(ties="efron"))])
    if name == "coxnet":
        spec = settings.get("coxnet", {})
        coxnet = CoxnetCV(l1_ratio=spec.get("l1_ratio", 0.5), alphas=spec.get("alphas"),
                          n_alphas=spec.get("n_alphas", 100), inner_folds=spec.get("inner_folds", 3),
                          seed=seed, n_jobs=n_jobs)
        return Pipeline([("pre", preprocessor(settings.get("transform", "yeo-johnson"))), ("model", coxnet)])
    if name == "rsf":
        spec = settings.get("rsf", {})
        forest = RandomSurvivalForest(n_estimators=spec.get("n_estimators", 200),
                                      min_samples_leaf=spec.get("min_samples_leaf", 5),
                                      max_features=spec.get("max_features", "sqrt"), n_jobs=n_jobs, random_state=seed)
        return Pipeline([("pre", preprocessor()), ("model", forest)])
    raise ValueError(f"unknown model {name!r} (known: cox, coxnet, rsf)")


def coefficients(fitted: Pipeline, original_scale: bool = False) -> pd.Series | None:
    """Coefficients of a fitted Cox model by output feature name (None for models without coefficients).

    By default per standard deviation of the feature (as fitted); ``original_scale`` divides by the scaler's SD.
    """
    if not hasattr(fitted[-1], "coef_"):
        return None
    coef = pd.Series(fitted[-1].coef_, index=fitted[:-1].get_feature_names_out())
    return coef / output_scales(fitted[0]) if original_scale else coef
