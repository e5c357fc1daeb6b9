"""A Yeo-Johnson power transform whose lambdas are fitted for all columns at once (vectorised maximum likelihood).

Same estimates as scikit-learn's ``PowerTransformer(method="yeo-johnson")``, which calls ``scipy.stats.yeojohnson``
once per column (a bounded Brent search, ~30 Python-level likelihood evaluations per column): at 458 x 1,000
features that is most of an elastic-net Cox fit. Here every likelihood evaluation covers every column.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

EPS = np.finfo(np.float64).eps
GOLDEN = (np.sqrt(5.0) - 1) / 2  # 0.618: the golden-section shrink factor
COARSE_WIDTH = 1e-2  # golden-section search until the bracket is this narrow, then Newton steps
NEWTON_STEPS = (1e-3, 1e-5, 1e-6)  # finite-difference spacing of each Newton step


def _is_constant(x: np.ndarray) -> np.ndarray:
    """Per column, constant up to rounding on its non-missing values, as scikit-learn decides
    (``_is_constant_feature``: the variance below the bound on its own rounding error, Chan, Golub & LeVeque,
    Am. Stat. 1983). Unlike scikit-learn, which searches a lambda for a constant column with NaN (an arbitrary one:
    its likelihood is flat), also with missing values; all-missing columns count as constant."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns
        n, mean, var = (~np.isnan(x)).sum(axis=0), np.nanmean(x, axis=0), np.nanvar(x, axis=0)
    return ~(var > n * EPS * var + (n * mean * EPS) ** 2)


def yeo_johnson(x: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """The Yeo-Johnson transform (Yeo & Johnson, Biometrika 2000, eq. 2.1) of each column of ``x`` with its lambda;
    NaN stays NaN. Written like ``scipy.stats.yeojohnson`` (``expm1``/``log1p``; the log where lambda is 0 or 2)."""
    lambdas = np.asarray(lambdas, dtype=np.float64)
    neg = x < 0
    power = np.where(neg, 2 - lambdas, lambdas)  # the exponent of |x| + 1, per value
    logs = np.log1p(np.abs(x))
    near_zero = np.abs(power) < EPS
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(near_zero, logs, np.expm1(power * logs) / np.where(near_zero, 1.0, power))
    return np.where(neg, -out, out)


class _Likelihood:
    """The Yeo-Johnson profile log-likelihood of every column at once (``scipy.stats.yeojohnson_llf``):
    ``-n/2 log(var(psi)) + (lambda - 1) sum(sign(x) log1p|x|)``, NaN values left out, -inf where the transformed
    variance under- or overflows. Columns of one sign need one power per column, and
    ``var(expm1(p L) / p) = var(expm1(p L)) / p**2``; only columns with both signs need a power per value."""

    def __init__(self, x: np.ndarray) -> None:
        valid = ~np.isnan(x)
        self.n = valid.sum(axis=0).astype(np.float64)
        neg = x < 0
        has_neg = neg.any(axis=0)
        self.mixed = np.flatnonzero(has_neg & (x >= 0).any(axis=0))
        self.pure = np.flatnonzero(~has_neg | ~(x >= 0).any(axis=0))
        self.all_neg = has_neg[self.pure]
        logs = np.where(valid, np.log1p(np.abs(np.nan_to_num(x))), 0.0)
        self.signed_log_sum = np.where(neg, -logs, logs).sum(axis=0)
        self.logs_pure, self.logs_mixed = logs[:, self.pure], logs[:, self.mixed]
        self.neg_mixed = neg[:, self.mixed].astype(np.float64)
        self.mask = None if valid.all() else valid.astype(np.float64)
        self.mask_pure = None if self.mask is None else self.mask[:, self.pure]
        self.mask_mixed = None if self.mask is None else self.mask[:, self.mixed]

    def _var(self, psi: np.ndarray, n: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        centred = psi - psi.sum(axis=0) / np.maximum(n, 1)
        if mask is not None:
            centred *= mask
        return np.einsum("ij,ij->j", centred, centred) / np.maximum(n, 1)

    def __call__(self, lambdas: np.ndarray) -> np.ndarray:
        positive = np.where(np.abs(lambdas) < EPS, EPS, lambdas)  # lambda 0 (2) is the log's limit; EPS matches it
        negative = np.where(np.abs(2 - lambdas) < EPS, EPS, 2 - lambdas)
        var = np.empty_like(lambdas)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            power = np.where(self.all_neg, negative[self.pure], positive[self.pure])
            psi = np.expm1(power * self.logs_pure)
            var[self.pure] = self._var(psi, self.n[self.pure], self.mask_pure) / power**2
            if self.mixed.size:
                pos_m, neg_m = positive[self.mixed], negative[self.mixed]
                power = pos_m + self.neg_mixed * (neg_m - pos_m)
                psi = np.expm1(power * self.logs_mixed) / (power * (1 - 2 * self.neg_mixed))
                var[self.mixed] = self._var(psi, self.n[self.mixed], self.mask_mixed)
            llf = -self.n / 2 * np.log(var) + (lambdas - 1) * self.signed_log_sum
        ok = np.isfinite(llf) & (var >= np.finfo(np.float64).smallest_normal)
        return np.where(ok, llf, -np.inf)


def _bounds(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the lambda interval of ``scipy.stats.yeojohnson_normmax`` (no over- or underflow up to 20 times
    the largest observed value; scipy PR 18852)."""
    log_eps = np.log(EPS)
    finfo = np.finfo(np.float64)
    with np.errstate(invalid="ignore"):
        log1p_max = np.log1p(20 * np.nanmax(np.abs(np.where(np.isnan(x), 0.0, x)), axis=0))
        lower = (np.log(finfo.tiny) - log_eps) / 2 / log1p_max
        upper = (np.log(finfo.max) + log_eps) / 2 / log1p_max
        all_neg = np.all((x < 0) | np.isnan(x), axis=0)
        any_neg = np.any(x < 0, axis=0)
    lo = np.where(all_neg, 2 - upper, np.where(any_neg, np.maximum(2 - upper, lower), lower))
    hi = np.where(all_neg, 2 - lower, np.where(any_neg, np.minimum(2 - lower, upper), upper))
    return lo, hi


def _golden_section(llf: _Likelihood, lo: np.ndarray, hi: np.ndarray, width: float) -> tuple[np.ndarray, ...]:
    """Golden-section search for the maximum of every column at once, until each bracket is ``width`` wide;
    the best point found, its log-likelihood, and the bracket."""
    a, b = lo.copy(), hi.copy()
    x1, x2 = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
    f1, f2 = llf(x1), llf(x2)
    steps = int(np.ceil(np.log(max(np.max(b - a), width) / width) / -np.log(GOLDEN)))
    for _ in range(steps):
        left = f1 >= f2  # the maximum lies in [a, x2]
        a, b = np.where(left, a, x1), np.where(left, x2, b)
        x1, x2, f1, f2 = (np.where(left, b - GOLDEN * (b - a), x2), np.where(left, x1, a + GOLDEN * (b - a)),
                          np.where(left, np.nan, f2), np.where(left, f1, np.nan))
        new = llf(np.where(left, x1, x2))
        f1, f2 = np.where(left, new, f1), np.where(left, f2, new)
    best = f1 >= f2
    return np.where(best, x1, x2), np.where(best, f1, f2), a, b


def _newton(llf: _Likelihood, lam: np.ndarray, f: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Newton steps on finite differences (spacing :data:`NEWTON_STEPS`), each kept only where it stays in the
    bracket, the likelihood is locally concave and it does not lower the likelihood."""
    for h in NEWTON_STEPS:
        up, down = llf(lam + h), llf(lam - h)
        curvature = up - 2 * f + down
        with np.errstate(invalid="ignore", divide="ignore"):
            step = -h * (up - down) / (2 * curvature)
        trial = lam + step
        usable = (curvature < 0) & np.isfinite(trial) & (trial > a) & (trial < b)
        f_trial = llf(np.where(usable, trial, lam))
        better = usable & (f_trial >= f)
        lam, f = np.where(better, trial, lam), np.where(better, f_trial, f)
    return lam


def fit_lambdas(x: np.ndarray) -> np.ndarray:
    """Per column, the maximum-likelihood Yeo-Johnson lambda on its non-missing values (as ``scipy.stats.yeojohnson``
    finds it, within its bounds); 1 for constant, all-zero or all-missing columns and where the likelihood is nowhere
    finite."""
    lambdas = np.ones(x.shape[1])
    fitted = ~_is_constant(x) & np.any((x != 0) & ~np.isnan(x), axis=0)
    if not fitted.any():
        return lambdas
    x = x[:, fitted]
    llf = _Likelihood(x)
    lo, hi = _bounds(x)
    lam, f, a, b = _golden_section(llf, lo, hi, COARSE_WIDTH)
    lam = _newton(llf, lam, f, a, b)
    lambdas[fitted] = np.where(np.isfinite(f), lam, 1.0)
    return lambdas


class YeoJohnson(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """``PowerTransformer(method="yeo-johnson")`` with all lambdas fitted at once: ``lambdas_`` by maximum
    likelihood per column (NaN ignored in fit, kept in transform), then, if ``standardize``, zero mean and unit
    variance (a ``StandardScaler``, as scikit-learn does). No ``scale_``: the scaled units are not the input's."""

    def __init__(self, standardize: bool = True, copy: bool = True) -> None:
        self.standardize = standardize
        self.copy = copy

    def fit(self, X, y=None) -> YeoJohnson:
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        X = validate_data(self, X, dtype=FLOAT_DTYPES, copy=self.copy, ensure_all_finite="allow-nan", reset=True)
        self.lambdas_ = fit_lambdas(X.astype(np.float64, copy=False)).astype(X.dtype)
        Z = yeo_johnson(X, self.lambdas_).astype(X.dtype, copy=False)
        if self.standardize:
            self._scaler = StandardScaler().fit(Z)
            Z = self._scaler.transform(Z)
        return Z

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "lambdas_")
        X = validate_data(self, X, dtype=FLOAT_DTYPES, copy=self.copy, ensure_all_finite="allow-nan", reset=False)
        Z = yeo_johnson(X, self.lambdas_).astype(X.dtype, copy=False)
        return self._scaler.transform(Z) if self.standardize else Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
