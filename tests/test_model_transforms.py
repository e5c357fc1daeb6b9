"""The vectorised Yeo-Johnson transform against scikit-learn's PowerTransformer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.preprocessing import PowerTransformer

from wbrad.model.features import preprocessor
from wbrad.model.transforms import YeoJohnson, fit_lambdas, yeo_johnson


def _columns(n: int = 120, seed: int = 0) -> np.ndarray:
    """Skewed, symmetric, negative, mixed-sign, tiny-scale, huge-scale and constant columns."""
    rng = np.random.default_rng(seed)
    return np.column_stack([
        rng.lognormal(size=n), rng.lognormal(sigma=2.0, size=n), rng.normal(size=n), -50 * rng.lognormal(size=n),
        rng.exponential(size=n) ** 3 - 1, 1e-4 * rng.normal(size=n), 1e4 * rng.gamma(2.0, size=n),
        rng.normal(size=n) - 3, np.full(n, 3.0), np.zeros(n),
    ])


def _flat(x: np.ndarray) -> bool:
    """Where the log-likelihood hardly changes over 0.01 of lambda around its maximum, the lambda is not identified."""
    x = x[~np.isnan(x)]
    if np.ptp(x) == 0:
        return True
    best = stats.yeojohnson(x)[1]
    return stats.yeojohnson_llf(best, x) - stats.yeojohnson_llf(best + 0.01, x) < 1e-6


def test_lambdas_and_outputs_equal_power_transformer():
    X = _columns()
    ours, theirs = YeoJohnson().fit(X), PowerTransformer(method="yeo-johnson").fit(X)
    sharp = [j for j in range(8) if not _flat(X[:, j])]
    assert sharp == [0, 1, 2, 3, 4, 6, 7]  # column 5 (values near 0) hardly depends on lambda
    np.testing.assert_allclose(ours.lambdas_[sharp], theirs.lambdas_[sharp], rtol=0, atol=1e-4)
    llf = [stats.yeojohnson_llf(lam, X[:, 5]) for lam in (ours.lambdas_[5], theirs.lambdas_[5])]
    assert llf[0] >= llf[1] - 1e-9  # where flat, a maximum at least as high
    assert ours.lambdas_[8] == ours.lambdas_[9] == 1.0 == theirs.lambdas_[8] == theirs.lambdas_[9]
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.fit_transform(X), theirs.transform(X), rtol=0, atol=1e-6)
    new = _columns(seed=1)  # transform of other data with the fitted lambdas and scaler
    np.testing.assert_allclose(ours.transform(new), theirs.transform(new), rtol=0, atol=1e-6)


def test_missing_values_are_left_out_of_the_fit_and_kept():
    X = _columns(200, seed=2)[:, :8]
    X[np.random.default_rng(3).random(X.shape) < 0.15] = np.nan
    ours, theirs = YeoJohnson().fit(X), PowerTransformer(method="yeo-johnson").fit(X)
    sharp = [0, 1, 2, 3, 4, 6, 7]
    np.testing.assert_allclose(ours.lambdas_[sharp], theirs.lambdas_[sharp], rtol=0, atol=1e-4)
    assert ours.lambdas_[5] == pytest.approx(theirs.lambdas_[5], rel=1e-5)  # flat: lambda near 1,000
    Z, expected = ours.transform(X), theirs.transform(X)
    assert np.array_equal(np.isnan(Z), np.isnan(X))
    np.testing.assert_allclose(Z, expected, rtol=0, atol=1e-6)


def test_constant_and_all_missing_columns_keep_lambda_one():
    X = np.column_stack([np.r_[np.full(9, 2.5), np.nan], np.full(10, np.nan), np.arange(10.0) ** 2])
    lambdas = fit_lambdas(X)
    assert lambdas[0] == lambdas[1] == 1.0
    assert lambdas[2] == pytest.approx(stats.yeojohnson(X[:, 2])[1], abs=1e-4)


def test_transform_matches_scipy_at_the_special_lambdas():
    x = np.array([-3.0, -0.5, 0.0, 0.2, 4.0, np.nan])
    for lam in (0.0, 2.0, 0.5, -1.3, 2.7):
        expected = np.r_[stats.yeojohnson(x[:-1], lam), np.nan]
        np.testing.assert_allclose(yeo_johnson(x[:, None], np.array([lam]))[:, 0], expected, rtol=1e-12, atol=1e-14)


def test_is_a_scikit_learn_estimator():
    X = _columns()[:, :4]
    est = YeoJohnson(standardize=False)
    assert est.get_params() == {"standardize": False, "copy": True}
    fitted = clone(est).fit(X)
    assert not hasattr(est, "lambdas_")  # clone is unfitted
    np.testing.assert_allclose(fitted.transform(X), PowerTransformer(standardize=False).fit(X).transform(X), atol=1e-6)
    frame = pd.DataFrame(X, columns=list("abcd"))
    assert list(YeoJohnson().fit(frame).get_feature_names_out()) == list("abcd")
    with pytest.raises(ValueError, match="features"):
        fitted.transform(X[:, :3])


def test_preprocessor_uses_it():
    table = pd.DataFrame(_columns()[:, :8], columns=[f"f{j}" for j in range(8)])
    pre = preprocessor("yeo-johnson").fit(table)
    assert isinstance(pre.named_transformers_["num"][-1], YeoJohnson)
    expected = PowerTransformer().fit_transform(table.to_numpy())
    np.testing.assert_allclose(pre.transform(table), expected, rtol=0, atol=1e-6)
