"""Outcome modelling: R's coxph on the Rossi data, null and strong synthetic signals, the stage end to end."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sksurv.util import Surv

from wbrad.io import read_tsv, write_tsv
from wbrad.model.endpoints import Endpoint, survival_target
from wbrad.model.features import preprocessor, resolve_feature_set
from wbrad.model.pipelines import coefficients, make_model
from wbrad.model.plots import logrank_p, risk_groups
from wbrad.model.run import model_endpoint
from wbrad.model.validation import bootstrap_ci, cindex, validate

ROSSI = Path(__file__).resolve().parents[2] / "shared" / "data" / "survival_rossi" / "rossi.csv"
# R 4.x: coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi)  (Efron ties)
R_COEF = {"fin": -0.3794222, "age": -0.0574377, "race": 0.3138998, "wexp": -0.1497957, "mar": -0.4337039,
          "paro": -0.0848711, "prio": 0.0914971}
SMALL = {"coxnet": {"l1_ratio": 0.5, "alphas": None, "inner_folds": 3},
         "rsf": {"n_estimators": 30, "min_samples_leaf": 5, "max_features": "sqrt"}}


@pytest.fixture(scope="module")
def rossi() -> tuple[pd.DataFrame, np.ndarray]:
    if not ROSSI.exists():
        pytest.skip(f"reference data not found: {ROSSI}")
    data = pd.read_csv(ROSSI)
    return data.drop(columns=["week", "arrest"]), Surv.from_arrays(data["arrest"].astype(bool), data["week"])


def simulate(n: int, beta: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Cox model with exponential baseline: only x0 matters (log hazard ratio ``beta`` per SD); ~30 % censored."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{i}" for i in range(5)])
    X["x3"] *= 100  # scale must not matter
    event_time = rng.exponential(np.exp(-beta * X["x0"].to_numpy()))
    censor_time = rng.exponential(2.0, n)
    return X, Surv.from_arrays(event_time <= censor_time, np.minimum(event_time, censor_time))


# --- reference: R's coxph -------------------------------------------------------------------------------------

def test_cox_reproduces_r_coxph_on_rossi(rossi):
    X, y = rossi
    fitted = make_model("cox", {}).fit(X, y)
    coef = coefficients(fitted, original_scale=True)
    assert list(coef.index) == list(R_COEF)
    np.testing.assert_allclose(coef.to_numpy(), list(R_COEF.values()), atol=1e-4)
    # standardised coefficients are the same model per SD
    np.testing.assert_allclose(coefficients(fitted).to_numpy(), coef.to_numpy() * X.std(ddof=0).to_numpy(), atol=1e-8)
    assert round(cindex(y, fitted.predict(X)), 3) == 0.640  # R: concordance 0.640


# --- validation ------------------------------------------------------------------------------------------------

def test_cindex_analytic():
    y = Surv.from_arrays([True, True, False, True], [1.0, 2.0, 3.0, 4.0])
    assert cindex(y, np.array([4.0, 3.0, 2.0, 1.0])) == 1.0
    assert cindex(y, np.array([1.0, 2.0, 3.0, 4.0])) == 0.0
    assert cindex(y, np.zeros(4)) == 0.5
    assert np.isnan(cindex(Surv.from_arrays([False, False], [1.0, 2.0]), np.array([1.0, 2.0])))


def test_bootstrap_ci_of_perfect_and_null_risk():
    X, y = simulate(200, 1.0, seed=3)
    perfect = -y["time"]  # ranks exactly by time: C = 1 in every resample
    assert bootstrap_ci(y, perfect, n_boot=200) == (1.0, 1.0)
    lo, hi = bootstrap_ci(y, X["x0"].to_numpy(), n_boot=300, seed=1)
    assert lo < cindex(y, X["x0"].to_numpy()) < hi and 0.02 < hi - lo < 0.2


@pytest.mark.parametrize("model", ["coxnet", "rsf"])
def test_no_signal_gives_chance_cindex(rossi, model):
    X, y = rossi
    y_null = y[np.random.default_rng(0).permutation(len(y))]  # outcome permuted across patients
    scores, risk = validate(make_model(model, SMALL, seed=0), X, y_null, {"folds": 3, "repeats": 2, "seed": 0,
                                                                          "bootstrap": 100})
    assert risk.shape == (2, len(y)) and np.isfinite(risk).all()
    assert 0.4 < scores["cindex"] < 0.6
    assert scores["cindex_lo"] < 0.5 < scores["cindex_hi"]


def test_strong_signal_is_found():
    X, y = simulate(150, 1.5, seed=1)
    for model in ["coxnet", "rsf"]:
        scores, _ = validate(make_model(model, SMALL), X, y, {"folds": 3, "repeats": 2, "seed": 0, "bootstrap": 100})
        assert scores["cindex"] > 0.7, model
        assert scores["cindex_lo"] > 0.6, model
    coef = coefficients(make_model("coxnet", SMALL).fit(X, y))
    assert coef.abs().idxmax() == "x0" and coef["x0"] > 0


# --- features and endpoints --------------------------------------------------------------------------------------

FEATURE_SETS = {"clinical": {"columns": ["age", "sex"]},
                "imaging": {"columns": ["re:^ct_", "re:^delta_rel_ct_total_volume_ml$"]},
                "both": {"include": ["clinical", "imaging"], "columns": ["age"]},
                "loop": {"include": ["loop2"]}, "loop2": {"include": ["loop"]},
                "missing": {"columns": ["weight_kg"]}, "none": {"columns": ["re:^pet_"]}}
COLUMNS = ["patient_id", "age", "sex", "ct_lesion_count", "ct_total_volume_ml", "delta_rel_ct_total_volume_ml",
           "delta_abs_ct_total_volume_ml"]


def test_resolve_feature_sets():
    assert resolve_feature_set("imaging", FEATURE_SETS, COLUMNS) == [
        "ct_lesion_count", "ct_total_volume_ml", "delta_rel_ct_total_volume_ml"]
    assert resolve_feature_set("both", FEATURE_SETS, COLUMNS) == [
        "age", "sex", "ct_lesion_count", "ct_total_volume_ml", "delta_rel_ct_total_volume_ml"]
    with pytest.raises(ValueError, match="includes itself"):
        resolve_feature_set("loop", FEATURE_SETS, COLUMNS)
    with pytest.raises(KeyError, match="'missing'.*'weight_kg'"):
        resolve_feature_set("missing", FEATURE_SETS, COLUMNS)
    with pytest.raises(ValueError, match="selects no column"):
        resolve_feature_set("none", FEATURE_SETS, COLUMNS)


def test_preprocessor_imputes_scales_and_encodes():
    X = pd.DataFrame({"a": [1.0, 3.0, np.nan, 5.0], "const": [2, 2, 2, 2],
                      "sex": pd.array(["M", "F", None, "F"], dtype="string"), "therapy": ["x", "y", "z", "y"]})
    pre = preprocessor().fit(X)
    assert list(pre.get_feature_names_out()) == ["a", "sex_M", "therapy_y", "therapy_z"]  # const dropped
    out = pre.transform(X)
    a = np.array([1.0, 3.0, 3.0, 5.0])  # median imputation
    np.testing.assert_allclose(out[:, 0], (a - a.mean()) / a.std())
    np.testing.assert_array_equal(out[:, 1], [1, 0, 0, 0])  # missing sex -> mode F
    np.testing.assert_array_equal(out[:, 2:], [[0, 0], [1, 0], [0, 1], [1, 0]])


def test_survival_target_drops_missing_and_rejects_bad_values():
    table = pd.DataFrame({"patient_id": ["A", "B", "C"], "t": [10.0, np.nan, 5.0], "e": [1, 0, 0]})
    keep, y = survival_target(table, Endpoint("os", "t", "e"))
    assert keep.tolist() == [True, False, True] and y["time"].tolist() == [10.0, 5.0]
    assert y["event"].tolist() == [True, False]
    table.loc[2, "t"] = -1
    with pytest.raises(ValueError, match=r"'os'.*\['C'\]"):
        survival_target(table, Endpoint("os", "t", "e"))


def test_risk_groups_and_logrank():
    groups = risk_groups(np.array([0.1, 5.0, 0.3, 4.0, 0.2, 3.0]))
    assert groups.tolist() == [0, 1, 0, 1, 0, 1]
    y = Surv.from_arrays([True] * 6, [10.0, 1.0, 11.0, 2.0, 12.0, 3.0])
    assert logrank_p(y, groups) < 0.05
    assert np.isnan(logrank_p(y, np.zeros(6, dtype=int)))


# --- the stage end to end ----------------------------------------------------------------------------------------

SETTINGS = {
    "endpoints": {"os": {"type": "survival", "time": "os_days", "event": "os_event"}},
    "feature_sets": {"clinical": {"columns": ["age", "sex", "ecog", "ldh", "braf", "therapy"]},
                     "imaging": {"columns": ["re:^bc_l3_(sma|smi)", "re:^ct_(lesion_count|total_volume_ml)$",
                                             "re:^delta_rel_ct_total_volume_ml$"]},
                     "clinical+imaging": {"include": ["clinical", "imaging"]}},
    "models": ["coxnet", "rsf"],
    "cv": {"folds": 3, "repeats": 2, "seed": 0, "bootstrap": 200},
    **SMALL,
    "risk_groups": 2,
}


def hand_made_cohort(n: int = 36, seed: int = 0) -> pd.DataFrame:
    """A cohort table like cohort.tsv: categorical and numeric columns, missing imaging, one missing endpoint."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "patient_id": [f"P{i:02d}" for i in range(n)], "age": rng.normal(65, 10, n).round(),
        "sex": rng.choice(["M", "F"], n), "ecog": rng.integers(0, 3, n), "ldh": rng.lognormal(5.5, 0.4, n),
        "braf": rng.choice(["mutant", "wildtype"], n), "therapy": rng.choice(["anti-PD1", "ipi+nivo"], n),
        "bc_l3_sma_cm2": rng.normal(140, 25, n), "bc_l3_smi_cm2m2": rng.normal(45, 8, n),
        "bc_qc_status": "ok", "ct_lesion_count": rng.integers(1, 10, n),
        "ct_total_volume_ml": rng.lognormal(2, 1, n), "delta_rel_ct_total_volume_ml": rng.normal(0, 0.5, n)})
    hazard = np.exp((table["ct_total_volume_ml"].rank() / n - 0.5) * 3)
    table["os_days"] = rng.exponential(300 / hazard).round() + 1
    table["os_event"] = (rng.uniform(size=n) < 0.75).astype(int)
    table.loc[[2, 3], ["bc_l3_sma_cm2", "bc_l3_smi_cm2m2", "ct_lesion_count", "ct_total_volume_ml"]] = np.nan
    table.loc[4, "delta_rel_ct_total_volume_ml"] = np.nan
    table.loc[5, "os_days"] = np.nan
    return table


def test_model_endpoint_end_to_end(tmp_path: Path):
    write_tsv(hand_made_cohort(), tmp_path / "cohort.tsv")
    out = tmp_path / "models" / "os"
    model_endpoint(tmp_path / "cohort.tsv", "os", SETTINGS, out, threads=2)

    metrics = read_tsv(out / "metrics.tsv")
    assert len(metrics) == 3 * 2
    assert list(metrics.columns) == ["endpoint", "feature_set", "model", "n", "events", "n_excluded",
                                     "cindex", "cindex_lo", "cindex_hi"]
    assert (metrics["n"] == 35).all() and (metrics["n_excluded"] == 1).all()
    assert ((metrics["cindex_lo"] <= metrics["cindex"]) & (metrics["cindex"] <= metrics["cindex_hi"])).all()
    assert metrics["cindex"].between(0, 1).all()
    as_json = pd.DataFrame(json.loads((out / "metrics.json").read_text()))[metrics.columns]
    pd.testing.assert_frame_equal(as_json, metrics, check_dtype=False)

    oof = read_tsv(out / "oof_risk.tsv", dtype={"patient_id": "string"})
    assert list(oof.columns) == ["patient_id", "feature_set", "model", "repeat", "risk"]
    assert len(oof) == 35 * 3 * 2 * 2 and oof["risk"].notna().all()
    assert "P05" not in set(oof["patient_id"])

    assert (out / "km.png").stat().st_size > 10_000
    saved = joblib.load(out / "model.joblib")
    assert set(saved["models"]) == {(s, m) for s in SETTINGS["feature_sets"] for m in SETTINGS["models"]}
    coxnet = saved["models"][("clinical+imaging", "coxnet")]
    assert coxnet["features"][:6] == ["age", "sex", "ecog", "ldh", "braf", "therapy"]
    assert "sex_M" in coxnet["coefficients"] and coxnet["alpha"] > 0
    assert saved["models"][("imaging", "rsf")]["coefficients"] is None
    table = hand_made_cohort().drop(index=5)
    X = table[coxnet["features"]]
    np.testing.assert_allclose(coxnet["estimator"].predict(X), coxnet["estimator"].predict(X.iloc[::-1])[::-1])
