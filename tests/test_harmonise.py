"""ComBat inside the folds: fitted on training rows it shrinks the between-scanner difference on test rows and keeps a
biological covariate's effect; on the training rows it equals neuroCombat."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from wbrad.model.harmonise import ComBat


def _two_scanners(n: int = 400, p: int = 30, seed: int = 0) -> pd.DataFrame:
    """Features: noise, on scanner B shifted by +3 and scaled by 2 on f0..f14; plus 2 * age on f0..f4."""
    rng = np.random.default_rng(seed)
    scanner = rng.choice(["A", "B"], n)
    age = rng.normal(0, 1, n)
    X = rng.normal(0, 1, (n, p))
    b = scanner == "B"
    X[np.ix_(b, np.arange(15))] = 3.0 + 2.0 * X[np.ix_(b, np.arange(15))]
    X[:, :5] += 2.0 * age[:, None]  # biology, the same on both scanners
    table = pd.DataFrame(X, columns=[f"f{i}" for i in range(p)])
    return table.assign(age=age, scanner=scanner, sex=rng.choice(["F", "M"], n))


def _gap(X: pd.DataFrame, scanner: pd.Series, columns: list[str]) -> tuple[float, float]:
    """Mean over columns of |mean B - mean A| and of |log(sd B / sd A)|."""
    a, b = X.loc[scanner.to_numpy() == "A", columns], X.loc[scanner.to_numpy() == "B", columns]
    return float((b.mean() - a.mean()).abs().mean()), float(np.log(b.std() / a.std()).abs().mean())


def test_combat_fitted_on_training_rows_harmonises_test_rows_and_keeps_age():
    table = _two_scanners(n=1500)
    train, test = train_test_split(table, test_size=0.3, random_state=0, stratify=table["scanner"])
    combat = ComBat(batch="scanner", covariates=["age"]).fit(train)
    out = combat.transform(test)
    shifted = [f"f{i}" for i in range(5, 15)]  # batch effect, no age effect
    before, after = _gap(test, test["scanner"], shifted), _gap(out, test["scanner"], shifted)
    assert before[0] == pytest.approx(3.0, abs=0.4) and before[1] == pytest.approx(np.log(2), abs=0.15)
    assert after[0] < 0.2 and after[1] < 0.1
    print(f"between-scanner |mean diff| {before[0]:.2f} -> {after[0]:.2f}, |log sd ratio| {before[1]:.2f} -> "
          f"{after[1]:.2f}")
    # the age effect (slope 2 on f0..f4) is kept
    slopes = [np.polyfit(out["age"], out[f"f{i}"], 1)[0] for i in range(5)]
    assert slopes == pytest.approx([2.0] * 5, abs=0.15)
    assert list(out.columns) == [c for c in table.columns if c != "scanner"]  # batch dropped, sex passes through
    assert (out["sex"] == test["sex"]).all() and (out["age"] == test["age"]).all()
    untouched = [f"f{i}" for i in range(15, 30)]
    assert np.abs(out[untouched].to_numpy() - test[untouched].to_numpy()).max() < 0.5


def test_unknown_batch_passes_unchanged_with_a_warning():
    table = _two_scanners()
    combat = ComBat(batch="scanner", covariates=["age"]).fit(table)
    new = table.head(5).assign(scanner="C")
    with pytest.warns(UserWarning, match="not in the training rows"):
        out = combat.transform(new)
    pd.testing.assert_frame_equal(out, new.drop(columns="scanner"))


def test_batches_of_one_training_row_pass_unchanged_even_when_every_batch_has_one():
    table = _two_scanners(n=40).assign(scanner=lambda t: ["A"] * 20 + ["B"] * 19 + ["C"])
    with pytest.warns(UserWarning, match=r"one training row are not harmonised: \['C'\]"):
        combat = ComBat(batch="scanner").fit(table)
    out = combat.transform(table)
    assert list(combat.batches_) == ["A", "B"] and (out.iloc[-1] == table.drop(columns="scanner").iloc[-1]).all()
    assert not np.allclose(out["f5"].head(39), table["f5"].head(39))
    tiny = table.iloc[[0, 20, 39]]  # a training fold of a tiny cohort: three scanners, one patient each
    with pytest.warns(UserWarning, match="one training row"):
        alone = ComBat(batch="scanner").fit(tiny)
    pd.testing.assert_frame_equal(alone.transform(table), table.drop(columns="scanner"))


def test_a_feature_a_batch_barely_has_stays_unchanged_there_and_the_others_are_harmonised():
    table = _two_scanners(n=300)
    b = np.flatnonzero(table["scanner"].to_numpy() == "B")
    table.loc[b[1:], "f6"] = np.nan  # one value of f6 on scanner B (a PET feature of patients mostly without PET)
    table.loc[b, "f7"] = np.nan  # none at all
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from a batch's single value
        out = ComBat(batch="scanner").fit(table).transform(table)
    assert out.loc[b[0], "f6"] == table.loc[b[0], "f6"] and out.loc[b, "f7"].isna().all()
    shifted = [f"f{i}" for i in range(5, 15) if i not in (6, 7)]
    assert np.isfinite(out[shifted].to_numpy()).all() and _gap(out, table["scanner"], shifted)[0] < 0.2


def test_combat_equals_neurocombat_on_training_rows():
    neuro = pytest.importorskip("neuroCombat", reason="neuroCombat not installed: reference comparison skipped")
    table = _two_scanners(n=200)
    features = [f"f{i}" for i in range(30)]
    ref = neuro.neuroCombat(dat=table[features].to_numpy().T, covars=table[["scanner", "age"]],
                            batch_col="scanner", continuous_cols=["age"])["data"].T
    ours = ComBat(batch="scanner", covariates=["age"]).fit_transform(table)[features].to_numpy()
    assert np.abs(ours - ref).max() < 1e-3 * np.abs(ref).max()
