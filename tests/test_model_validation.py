"""Honest validation: no signal gives chance C-indices; the synthetic cohort's imaging adds to clinical data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wbrad.model.endpoints import Endpoint, survival_target
from wbrad.model.metrics import cindex, paired_gain
from wbrad.model.pipelines import SURVIVAL_MODELS, importances, make_model
from wbrad.model.validation import cross_validate, survival_at, time_grid
from wbrad.testing.simulate import CLINICAL, IMAGING, TRUE_EFFECTS, cohort_table

FAST = {"transform": "standard", "coxnet": {"n_alphas": 30}, "rsf": {"n_estimators": 40, "min_samples_leaf": 10},
        "gbs": {"n_estimators": 40}}
OS = Endpoint("os", "os_days", "os_event")


@pytest.fixture(scope="module")
def null_data() -> tuple[pd.DataFrame, np.ndarray]:
    """500 synthetic patients, clinical + imaging + 20 noise features (room for leakage to show)."""
    table = cohort_table(500, seed=5, n_noise=20)
    _, y = survival_target(table, OS)
    return table[CLINICAL + IMAGING + [c for c in table if c.startswith("ct_noise")]], y


@pytest.mark.parametrize("model", SURVIVAL_MODELS)
def test_permuted_outcomes_give_chance_cindex(null_data, model):
    """Outcomes permuted across patients: the cross-validated C lies in 0.45-0.55 for each of 5 seeds."""
    X, y = null_data
    scores = []
    for seed in range(5):
        y_null = y[np.random.default_rng(seed).permutation(len(y))]
        oof = cross_validate(make_model(model, FAST, seed), X, y_null, {"folds": 3, "repeats": 1, "seed": seed})
        scores.append(cindex(y_null, oof.risk[0]))
    assert all(0.45 < c < 0.55 for c in scores), scores


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, np.ndarray]:
    table = cohort_table(240, seed=3, n_noise=10)
    _, y = survival_target(table, OS)
    return table, y


def test_imaging_adds_to_clinical_with_paired_interval_above_zero(synthetic):
    table, y = synthetic
    cv = {"folds": 5, "repeats": 1, "seed": 0}
    risk = {name: cross_validate(make_model("coxnet", FAST), table[cols], y, cv).risk[0]
            for name, cols in {"clinical": CLINICAL, "clinical+imaging": CLINICAL + IMAGING}.items()}
    gain, lo, hi = paired_gain(cindex, y, risk["clinical+imaging"], risk["clinical"], n_boot=300)
    assert lo > 0 and lo <= gain <= hi and gain > 0.05


def test_true_effects_rank_at_the_top_of_the_final_model(synthetic):
    table, y = synthetic
    columns = CLINICAL + IMAGING + [c for c in table if c.startswith("ct_noise")]
    for model in ("coxnet", "gbs"):
        ranking = importances(make_model(model, FAST).fit(table[columns], y)).sort_values(ascending=False)
        assert set(ranking.index[: len(TRUE_EFFECTS)]) == set(TRUE_EFFECTS), (model, ranking.head(8))


def test_survival_curves_are_step_functions_of_the_fit(synthetic):
    table, y = synthetic
    fitted = make_model("cox", {}).fit(table[CLINICAL], y)
    grid = time_grid(y, [365.0])
    curves = survival_at(fitted, table[CLINICAL].iloc[:5], grid)
    expected = np.array([[fn(t) if t >= fn.x[0] else 1.0 for t in grid]
                         for fn in fitted.predict_survival_function(table[CLINICAL].iloc[:5])])
    np.testing.assert_allclose(curves, expected)
    assert (np.diff(curves, axis=1) <= 1e-12).all()
