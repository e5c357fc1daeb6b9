"""Performance measures on data with a known answer: exponential survival with known hazards."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from sksurv.util import Surv

from wbrad.model.metrics import (
    binary_scores,
    bootstrap_ci,
    cindex,
    fold_ibs,
    fold_td_auc,
    ici,
    km_at,
    paired_gain,
    rcs_basis,
    supported,
    uno_cindex,
)


def exponential(n: int, seed: int = 0, beta: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, hazard): hazard exp(beta x), uniform censoring on (0, 3)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    hazard = np.exp(beta * x)
    t, c = rng.exponential(1 / hazard), rng.uniform(0, 3, n)
    return x, Surv.from_arrays(t <= c, np.minimum(t, c)), hazard


def test_cindex_analytic():
    y = Surv.from_arrays([True, True, False, True], [1.0, 2.0, 3.0, 4.0])
    assert cindex(y, np.array([4.0, 3.0, 2.0, 1.0])) == 1.0
    assert cindex(y, np.array([1.0, 2.0, 3.0, 4.0])) == 0.0
    assert cindex(y, np.zeros(4)) == 0.5
    assert np.isnan(cindex(Surv.from_arrays([False, False], [1.0, 2.0]), np.array([1.0, 2.0])))
    assert uno_cindex(y, y, np.array([4.0, 3.0, 2.0, 1.0])) == 1.0


def test_cindex_is_sksurvs_bit_for_bit_with_tied_times_tied_risks_and_censoring():
    from sksurv.metrics import concordance_index_censored

    rng = np.random.default_rng(7)
    checked = 0
    for case in range(400):
        n = int(rng.integers(2, 60))
        time = rng.integers(1, 12, n).astype(float)  # few distinct times: many ties, events and censorings among them
        event = rng.random(n) < rng.uniform(0.05, 0.95)
        risk = np.round(rng.normal(size=n), 1) if case % 2 else rng.normal(size=n)  # half the cases with tied risks
        risk[rng.random(n) < 0.1] += 5e-9  # within sksurv's tie tolerance of another risk
        y = Surv.from_arrays(event, time)
        try:
            with np.errstate(invalid="ignore"):
                expected = float(concordance_index_censored(event, time, risk)[0])
        except ValueError:  # all censored, or no comparable pair
            expected = float("nan")
        got = cindex(y, risk)
        assert got == expected or (np.isnan(got) and np.isnan(expected)), (case, got, expected)
        checked += np.isfinite(expected)
    assert checked > 300
    assert np.isnan(cindex(Surv.from_arrays([True, True, False], [1.0, 2.0, 3.0]), np.array([1.0, np.nan, 2.0])))


def test_bootstrap_and_paired_gain():
    x, y, _ = exponential(200, seed=3)
    assert bootstrap_ci(y, -y["time"], n_boot=50) == (1.0, 1.0)  # ranks exactly by time in every resample
    lo, hi = bootstrap_ci(y, x, n_boot=200, seed=1)
    assert lo < cindex(y, x) < hi and 0.02 < hi - lo < 0.2
    assert paired_gain(cindex, y, x, x, n_boot=20) == (0.0, 0.0, 0.0)  # identical predictions: no gain at all
    gain, lo, hi = paired_gain(cindex, y, x, np.random.default_rng(0).normal(size=200), n_boot=200)
    assert 0 < lo < gain < hi


def test_td_auc_is_restricted_to_the_times_a_test_fold_supports():
    x, y, _ = exponential(400, seed=1)
    train, test = y[:300], y[300:]
    horizons = np.array([0.5, 1.0, test["time"].max() + 1])
    assert supported(horizons, train, test).tolist() == [True, True, False]
    auc = fold_td_auc(train, test, x[300:], horizons)
    assert np.isnan(auc[2]) and (auc[:2] > 0.7).all()  # true hazard ratio e per SD: strong discrimination
    assert np.isnan(fold_td_auc(train, test, x[300:], np.array([1e-9]))).all()  # before any event


def test_integrated_brier_score_of_the_true_model_beats_a_constant():
    x, y, hazard = exponential(600, seed=2)
    grid = np.linspace(0.1, 1.5, 15)
    truth = np.exp(-np.outer(hazard, grid))
    constant = np.tile(np.exp(-grid), (len(x), 1))
    true_ibs, constant_ibs = fold_ibs(y, y, truth, grid), fold_ibs(y, y, constant, grid)
    assert 0 < true_ibs < constant_ibs < 0.25


def test_ici_is_small_when_calibrated_and_large_when_not():
    x, y, hazard = exponential(2000, seed=4)
    truth = np.exp(-hazard * 0.5)  # true survival at the horizon 0.5
    assert ici(y, truth, 0.5) < 0.03  # estimation noise only (0.004 with 5,000 patients)
    assert ici(y, truth ** 3, 0.5) > 0.2  # predicts far too many events
    assert np.isnan(ici(y, truth, 10.0))  # beyond follow-up


def test_rcs_basis_is_linear_beyond_the_last_knot():
    x = np.array([3.0, 4.0, 5.0, 6.0])
    basis = rcs_basis(x, np.array([0.0, 1.0, 2.0]))
    assert np.allclose(np.diff(basis[:, 1], 2), 0)  # natural spline: linear in the tails
    assert np.allclose(rcs_basis(np.array([-1.0, 0.0]), np.array([0.0, 1.0, 2.0]))[:, 1], 0)


def test_km_at_and_binary_scores():
    y = Surv.from_arrays([True, False, True, True], [1.0, 2.0, 3.0, 4.0])
    assert km_at(y, 0.5) == 1.0 and km_at(y, 1.0) == 0.75 and km_at(y, 3.5) == pytest.approx(0.75 * 0.5)
    assert np.isnan(km_at(y, 5.0))
    scores = binary_scores(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert scores["auroc"] == 0.75 and scores["auprc"] == pytest.approx((1 + 2 / 3) / 2)
    assert scores["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    rng = np.random.default_rng(0)  # ties and many patients: the same numbers as scikit-learn's
    y, prob = rng.integers(0, 2, 300), rng.integers(0, 20, 300) / 20
    scores = binary_scores(y, prob)
    assert scores["auroc"] == pytest.approx(roc_auc_score(y, prob))
    assert scores["auprc"] == pytest.approx(average_precision_score(y, prob))
