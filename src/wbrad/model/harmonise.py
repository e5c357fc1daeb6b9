"""ComBat harmonisation by batch (scanner, protocol) as a scikit-learn transformer fitted inside the CV folds.

ComBat (Johnson, Li and Rabinovic, Biostatistics 2007; 8:118) in the form of Fortin et al. (NeuroImage 2018;
167:104, neuroCombat): per feature, an OLS fit of ``batch + covariates`` gives the grand mean, the covariate effects
and the pooled variance; the standardised data's per-batch location (gamma) and scale (delta) are shrunk towards
their across-feature priors by parametric empirical Bayes (normal prior on gamma, inverse gamma on delta, iterated
to convergence), then removed. ``fit`` learns all of that on the training rows only; ``transform`` standardises new
rows with the training estimates and removes their batch's learned gamma and delta, so a test fold is harmonised
with nothing learned from it. The result equals neuroCombat's on the training rows (tested).

Interface (works as the first step of a Pipeline, or inside a ColumnTransformer given the batch and feature
columns): ``X`` is a DataFrame holding the batch column (``batch``, e.g. ``scanner``), optional numeric biological
``covariates`` whose effect is kept (e.g. age, sex as 0/1), and the features (``features``; default every other
numeric column). Non-feature columns pass through unchanged; the batch column is dropped from the output unless
``keep_batch``. Rows of a batch not seen in ``fit`` pass unchanged (the pooled estimate: gamma 0, delta 1), with a
warning; so do all rows when every training batch has a single row. Missing feature values stay missing and are
left out of the estimates; a missing covariate is set to its training mean; a feature constant on the training rows
passes unchanged (rounding would otherwise turn its zero variance into a huge scale). Implemented here rather than
imported: neuroHarmonize and inmoose pin older numpy/pandas than the project's, and neuroCombat's
``neuroCombatFromTraining`` drops the covariate effects on new rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


def _ols(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-column OLS coefficients (design columns x features), each feature on its own non-missing rows."""
    finite = np.isfinite(y)
    if finite.all():
        return np.linalg.lstsq(design, y, rcond=None)[0]
    beta = np.empty((design.shape[1], y.shape[1]))
    for j in range(y.shape[1]):
        rows = finite[:, j]
        beta[:, j] = np.linalg.lstsq(design[rows], y[rows, j], rcond=None)[0]
    return beta


def _inverse_gamma_prior(delta_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Method-of-moments a, b of the inverse-gamma prior per batch (Johnson et al. 2007, section 3.1), over the
    features that have an estimate (not NaN)."""
    m, s2 = np.nanmean(delta_hat, axis=1), np.nanvar(delta_hat, axis=1, ddof=1)
    return (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2


def _batch_estimates(z: np.ndarray, batches: np.ndarray, n_batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per batch and feature: the location and scale of standardised data ``z`` and the number of values behind
    them; NaN location and scale where a batch has fewer than two values of a feature (a PET feature of patients
    mostly without PET): such a feature is left unchanged in that batch and out of the batch's priors."""
    n = np.vstack([np.isfinite(z[batches == k]).sum(axis=0) for k in range(n_batch)]).astype(float)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # features without two values in a batch: NaN, masked below
        gamma_hat = np.vstack([np.nanmean(z[batches == b], axis=0) for b in range(n_batch)])
        delta_hat = np.vstack([np.nanvar(z[batches == b], axis=0, ddof=1) for b in range(n_batch)])
    delta_hat[delta_hat == 0] = 1.0  # a feature constant within a batch: no scale to remove
    thin = n < 2
    gamma_hat[thin], delta_hat[thin] = np.nan, np.nan
    return gamma_hat, delta_hat, n


def _empirical_bayes(z: np.ndarray, batches: np.ndarray, n_batch: int, tol: float = 1e-4,
                     max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Shrunken gamma*, delta* (batches x features) of standardised data ``z``, iterated as neuroCombat's
    ``it_sol``; gamma 0 and delta 1 (unchanged) where a batch has fewer than two values of a feature."""
    gamma_hat, delta_hat, n = _batch_estimates(z, batches, n_batch)
    thin = n < 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a batch without any estimate: its priors are NaN
        gamma_bar = np.nanmean(gamma_hat, axis=1, keepdims=True)
        tau2 = np.nanvar(gamma_hat, axis=1, ddof=1, keepdims=True)
        a, b = (v[:, None] for v in _inverse_gamma_prior(delta_hat))
    gamma_hat, delta_hat = np.where(thin, 0.0, gamma_hat), np.where(thin, 1.0, delta_hat)
    gamma, delta = gamma_hat.copy(), delta_hat.copy()
    for _ in range(max_iter):
        gamma_new = (tau2 * n * gamma_hat + delta * gamma_bar) / (tau2 * n + delta)
        sum2 = np.vstack([np.nansum((z[batches == k] - gamma_new[k]) ** 2, axis=0) for k in range(n_batch)])
        delta_new = (0.5 * sum2 + b) / (n / 2 + a - 1)
        with np.errstate(divide="ignore", invalid="ignore"):  # relative change; a zero gamma does not count
            ratios = np.concatenate([(np.abs(gamma_new - gamma) / np.abs(gamma))[~thin],
                                     (np.abs(delta_new - delta) / delta)[~thin]])
        change = ratios[np.isfinite(ratios)].max(initial=0.0)
        gamma, delta = gamma_new, delta_new
        if change <= tol:
            break
    usable = ~thin & np.isfinite(gamma) & np.isfinite(delta)
    return np.where(usable, gamma, 0.0), np.where(usable, delta, 1.0)


class ComBat(TransformerMixin, BaseEstimator):
    """ComBat by the ``batch`` column of X, learned on the training rows (module docstring)."""

    def __init__(self, batch: str = "batch", covariates: Sequence[str] = (), features: Sequence[str] | None = None,
                 empirical_bayes: bool = True, keep_batch: bool = False):
        self.batch = batch
        self.covariates = covariates
        self.features = features
        self.empirical_bayes = empirical_bayes
        self.keep_batch = keep_batch

    def _feature_names(self, X: pd.DataFrame) -> list[str]:
        if self.features is not None:
            return list(self.features)
        skip = {self.batch, *self.covariates}
        return [c for c in X.select_dtypes("number").columns if c not in skip]

    def _covariates(self, X: pd.DataFrame) -> np.ndarray:
        cov = X[list(self.covariates)].to_numpy(dtype=float, na_value=np.nan).reshape(len(X), -1)
        return np.where(np.isfinite(cov), cov, self.covariate_mean_) if cov.size else cov

    def fit(self, X: pd.DataFrame, y: object = None) -> ComBat:
        self.features_ = self._feature_names(X)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        counts = X[self.batch].astype(str).value_counts()
        if (counts < 2).any():  # a batch's location and scale need two rows: its rows pass unchanged, as unseen ones
            single = sorted(counts.index[counts < 2])
            warnings.warn(f"ComBat: batches with one training row are not harmonised: {single}", stacklevel=2)
            X = X[X[self.batch].astype(str).map(counts).to_numpy() >= 2]
        self.batches_ = np.array(sorted(X[self.batch].astype(str).unique()))
        if not len(self.batches_):  # every batch a single row (tiny folds): nothing learned, everything passes
            return self
        if len(self.batches_) < 2:
            warnings.warn(f"ComBat: one batch only ({self.batches_}) in the training rows; nothing to harmonise",
                          stacklevel=2)
        batches = np.searchsorted(self.batches_, X[self.batch].astype(str).to_numpy())
        cov = X[list(self.covariates)].to_numpy(dtype=float, na_value=np.nan).reshape(len(X), -1)
        self.covariate_mean_ = np.nanmean(cov, axis=0) if cov.size else np.zeros(0)
        cov = self._covariates(X)
        y_ = X[self.features_].to_numpy(dtype=float, na_value=np.nan)
        onehot = np.eye(len(self.batches_))[batches]
        beta = _ols(np.hstack([onehot, cov]), y_)
        share = onehot.mean(axis=0)
        self.grand_mean_ = share @ beta[: len(self.batches_)]
        self.beta_ = beta[len(self.batches_):]
        residual = y_ - np.hstack([onehot, cov]) @ beta
        self.var_pooled_ = np.nanmean(residual**2, axis=0)
        spread = np.nanmax(y_, axis=0, initial=-np.inf) - np.nanmin(y_, axis=0, initial=np.inf) if len(y_) else 0
        self.constant_ = ~(np.asarray(spread) > 0)  # constant (or all missing) on the training rows: left unchanged
        z = self._standardise(y_, cov)
        if len(self.batches_) < 2:
            self.gamma_, self.delta_ = np.zeros((1, len(self.features_))), np.ones((1, len(self.features_)))
        elif self.empirical_bayes:
            self.gamma_, self.delta_ = _empirical_bayes(z, batches, len(self.batches_))
        else:
            gamma_hat, delta_hat, _ = _batch_estimates(z, batches, len(self.batches_))
            self.gamma_, self.delta_ = np.nan_to_num(gamma_hat, nan=0.0), np.nan_to_num(delta_hat, nan=1.0)
        return self

    def _standardise(self, y: np.ndarray, cov: np.ndarray) -> np.ndarray:
        scale = np.sqrt(np.where(self.var_pooled_ > 0, self.var_pooled_, 1.0))
        return (y - self.grand_mean_ - cov @ self.beta_) / scale

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        cov = self._covariates(X)
        y = X[self.features_].to_numpy(dtype=float, na_value=np.nan)
        labels = X[self.batch].astype(str).to_numpy()
        if not len(self.batches_):
            return X.copy() if self.keep_batch else X.drop(columns=self.batch)
        known = np.isin(labels, self.batches_)
        if not known.all():
            warnings.warn(f"ComBat: batches not in the training rows pass unchanged: {sorted(set(labels[~known]))}",
                          stacklevel=2)
        index = np.searchsorted(self.batches_, labels).clip(0, len(self.batches_) - 1)
        z = self._standardise(y, cov)
        adjusted = (z - self.gamma_[index]) / np.sqrt(self.delta_[index])
        scale = np.sqrt(np.where(self.var_pooled_ > 0, self.var_pooled_, 1.0))
        adjusted = adjusted * scale + self.grand_mean_ + cov @ self.beta_
        out = X.copy()
        out[self.features_] = np.where(known[:, None] & ~self.constant_, adjusted, y)
        return out if self.keep_batch else out.drop(columns=self.batch)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        names = [c for c in self.feature_names_in_ if self.keep_batch or c != self.batch]
        return np.asarray(names, dtype=object)
