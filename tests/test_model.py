"""Outcome modelling: R's coxph on the Rossi data, strong synthetic signals, endpoints, the stage end to end."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.util import Surv

from wbrad.io import read_tsv, write_tsv
from wbrad.model.endpoints import Endpoint, binary_target, endpoint_from_settings, landmark, survival_target
from wbrad.model.features import preprocessor, resolve_feature_set
from wbrad.model.metrics import cindex
from wbrad.model.pipelines import CoxnetCV, coefficients, hyperparameters, make_model
from wbrad.model.plots import logrank_p, risk_groups
from wbrad.model.run import model_endpoint, prepare
from wbrad.model.validation import validate
from wbrad.study import model_paths

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

def test_coxnet_inner_search_refits_the_preprocessing_in_each_inner_fold():
    """The inner scores equal a by-hand loop that fits preprocessing and path on each inner training part only."""
    X, y = simulate(120, 1.0, seed=2)
    fitted = CoxnetCV(n_alphas=10, inner_folds=3, seed=4).fit(X, y)
    alphas = fitted.path_.alphas_
    splits = StratifiedKFold(3, shuffle=True, random_state=4).split(X, y["event"])
    for k, (train, test) in enumerate(splits):
        pre = preprocessor("yeo-johnson").fit(X.iloc[train])
        path = CoxnetSurvivalAnalysis(l1_ratio=0.5, alphas=alphas).fit(pre.transform(X.iloc[train]), y[train])
        Z = pre.transform(X.iloc[test])
        expected = [cindex(y[test], path.predict(Z, alpha=a)) for a in path.alphas_]
        np.testing.assert_allclose(fitted.inner_scores_[k, : len(expected)], expected)
    best = np.nanargmax(np.nanmean(fitted.inner_scores_, axis=0))
    assert hyperparameters(fitted) == {"alpha": alphas[best]}


def test_coxnet_on_too_few_events_takes_the_strongest_penalty():
    """4 patients, 1 event: every inner training part of 3 folds lacks an event or a pair, so no inner score."""
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(4, 3)), columns=["a", "b", "c"])
    y = Surv.from_arrays([True, False, False, False], [1.0, 2.0, 3.0, 4.0])
    fitted = make_model("coxnet", {}).fit(X, y)
    assert fitted.alpha_ == fitted.path_.alphas_[0] and (fitted.coef_ == 0).all()


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


def test_binary_targets_and_landmark():
    table = pd.DataFrame({"patient_id": ["A", "B", "C", "D"], "best_response": ["PR", "PD", None, "CR"],
                          "t": [100.0, 400.0, 200.0, 500.0], "e": [1, 0, 0, 1], "fu": [84.0, 90.0, 80.0, np.nan]})
    response = endpoint_from_settings("r", {"endpoints": {"r": {"type": "binary", "column": "best_response",
                                                                "positive": ["CR", "PR"]}}})
    keep, y = binary_target(table, response)
    assert keep.tolist() == [True, True, False, True] and y.tolist() == [1, 0, 1]
    early = Endpoint("pfs12", "t", "e", type="binary", before_days=365)
    keep, y = binary_target(table, early)  # C is censored before 365 days: unknown
    assert keep.tolist() == [True, True, False, True] and y.tolist() == [1, 0, 0]
    shifted, n_out = landmark(table, Endpoint("os", "t", "e"), table["fu"].to_numpy())
    assert n_out == 1 and shifted["patient_id"].tolist() == ["A", "B", "C"]  # D has no follow-up scan
    assert shifted["t"].tolist() == [16.0, 310.0, 120.0]
    shifted, n_out = landmark(table, Endpoint("os", "t", "e"), np.array([150.0, 90.0, 80.0, 10.0]))
    assert n_out == 1 and "A" not in set(shifted["patient_id"])  # A's event came before its landmark


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
    "cv": {"folds": 3, "repeats": 2, "seed": 0, "bootstrap": 200, "bootstrap_uno": 50},
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


SURVIVAL_COLUMNS = ["endpoint", "feature_set", "model", "n", "events", "n_excluded", "n_no_imaging", "n_imputed_values",
                    "n_excluded_scans", "landmark", "n_features", "n_selected", "cindex", "cindex_lo", "cindex_hi",
                    "uno_cindex", "uno_lo", "uno_hi", "ibs", "auc_182", "ici_182", "auc_365", "ici_365", "seconds"]


@pytest.mark.slow  # about 35 s on 2 cores
def test_model_endpoint_end_to_end(tmp_path: Path):
    cohort = hand_made_cohort()
    cohort["landmark_days"] = 60.0
    write_tsv(cohort, tmp_path / "cohort.tsv")
    out = tmp_path / "models" / "os"
    model_endpoint(tmp_path / "cohort.tsv", "os", {**SETTINGS, "horizons": [182, 365]}, model_paths(out, False),
                   threads=2)

    metrics = read_tsv(out / "metrics.tsv")
    assert len(metrics) == 3 * 2 and list(metrics.columns) == SURVIVAL_COLUMNS
    landmarked = int((cohort["os_days"] <= 60).sum())  # delta features: time origin at the follow-up scan
    assert metrics["landmark"].all() and (metrics["n"] == 35 - landmarked).all()
    assert (metrics["n_excluded"] == 1 + landmarked).all()
    assert ((metrics["cindex_lo"] <= metrics["cindex"]) & (metrics["cindex"] <= metrics["cindex_hi"])).all()
    assert metrics[["cindex", "uno_cindex", "auc_182", "auc_365"]].stack().between(0, 1).all()
    assert metrics[["ibs", "ici_182", "ici_365"]].stack().between(0, 0.5).all()
    as_json = pd.DataFrame(json.loads((out / "metrics.json").read_text()))[metrics.columns]
    pd.testing.assert_frame_equal(as_json, metrics, check_dtype=False)

    gains = read_tsv(out / "gains.tsv")
    assert len(gains) == 2 * 2 and set(gains["reference"]) == {"clinical"}
    assert ((gains["gain_lo"] <= gains["gain"]) & (gains["gain"] <= gains["gain_hi"])).all()
    oof = read_tsv(out / "oof_risk.tsv", dtype={"patient_id": "string"})
    assert list(oof.columns) == ["patient_id", "feature_set", "model", "repeat", "risk"]
    assert len(oof) == len(metrics) * metrics["n"].iloc[0] * 2 and oof["risk"].notna().all()
    assert "P05" not in set(oof["patient_id"])
    calibration = read_tsv(out / "calibration.tsv")
    assert set(calibration["horizon"]) == {182, 365} and calibration["n"].sum() == 6 * 2 * metrics["n"].iloc[0]
    for plot in ("km.png", "tdauc.png", "calibration.png"):
        assert (out / plot).stat().st_size > 10_000, plot

    saved = joblib.load(out / "model.joblib")
    assert saved["landmark"] and set(saved["models"]) == {(s, m) for s in SETTINGS["feature_sets"]
                                                          for m in SETTINGS["models"]}
    coxnet = saved["models"][("clinical+imaging", "coxnet")]
    assert coxnet["features"][:6] == ["age", "sex", "ecog", "ldh", "braf", "therapy"]
    assert "sex_M" in coxnet["coefficients"] and coxnet["alpha"] > 0
    assert saved["models"][("imaging", "rsf")]["coefficients"] is None
    importance = read_tsv(out / "importances.tsv")
    ranks = importance.groupby(["feature_set", "model"])["rank"].min()
    assert ranks.xs("coxnet", level="model").eq(1).all() and ranks.xs("rsf", level="model").isna().all()
    X = cohort.loc[cohort["os_days"] > 60, coxnet["features"]]
    np.testing.assert_allclose(coxnet["estimator"].predict(X), coxnet["estimator"].predict(X.iloc[::-1])[::-1])


def test_model_endpoint_binary(tmp_path: Path):
    cohort = hand_made_cohort(60, seed=1)
    cohort["response"] = np.where(cohort["ct_total_volume_ml"].fillna(7) < 7, "PR", "PD")
    write_tsv(cohort, tmp_path / "cohort.tsv")
    settings = {
        **SETTINGS,
        "endpoints": {"response": {"type": "binary", "column": "response", "positive": ["PR"]}},
        "feature_sets": {
            "clinical": {"columns": ["age", "ldh"]},
            "clinical+imaging": {"columns": ["age", "ldh", "ct_total_volume_ml"]},
        },
        "binary_models": ["logistic", "rf"],
        "logistic": {"n_cs": 4},
        "rf": {"n_estimators": 50},
        "transform": "standard",
        "cv": {"folds": 3, "repeats": 1, "seed": 0, "bootstrap": 200},
    }
    model_endpoint(tmp_path / "cohort.tsv", "response", settings, model_paths(tmp_path / "out", True), threads=1)
    metrics = read_tsv(tmp_path / "out" / "metrics.tsv").set_index(["feature_set", "model"])
    assert not metrics["landmark"].any() and (metrics["n"] == 60).all()
    assert (metrics.loc["clinical+imaging", "auroc"] > 0.85).all()  # response is a step in tumour volume
    assert metrics[["auroc", "auprc", "brier"]].stack().between(0, 1).all()
    gains = read_tsv(tmp_path / "out" / "gains.tsv")
    assert set(gains["measure"]) == {"auroc"} and (gains["gain_lo"] > 0).all()
    assert (tmp_path / "out" / "roc.png").stat().st_size > 10_000


def noted_metrics(cohort: Path, endpoint: str, settings: dict, binary: bool, out: Path) -> pd.DataFrame:
    """The metrics of an endpoint the stage cannot validate, after checking that every output is written and
    holds no model."""
    paths = model_paths(out, binary)
    model_endpoint(cohort, endpoint, settings, paths)
    assert all(path.stat().st_size > 0 for path in paths.values())
    assert read_tsv(paths["oof"]).empty and joblib.load(paths["model"])["models"] == {}
    metrics = read_tsv(paths["metrics"])
    assert json.loads(paths["metrics_json"].read_text())[0]["note"] == metrics["note"].iloc[0]
    return metrics


def test_model_endpoint_with_too_few_events_writes_every_output_with_a_note(tmp_path: Path):
    cohort = hand_made_cohort(12)
    cohort["os_event"] = [1, 1, 1] + [0] * 9  # 3 events for 5 folds (patient P05 lacks os_days)
    cohort["response"] = ["PR"] * 4 + ["PD"] * 8  # 4 responders for 5 folds
    write_tsv(cohort, tmp_path / "cohort.tsv")
    settings = {**SETTINGS, "cv": {"folds": 5, "repeats": 1, "seed": 0},
                "endpoints": {**SETTINGS["endpoints"], "response": {"type": "binary", "column": "response",
                                                                    "positive": ["PR"]}},
                "feature_sets": {"clinical": {"columns": ["age", "ldh"]}}, "binary_models": ["logistic"]}
    for endpoint, binary, counts in (("os", False, "patients 11, events 3"),
                                     ("response", True, "patients 12, with the event 4, without 8")):
        metrics = noted_metrics(tmp_path / "cohort.tsv", endpoint, settings, binary, tmp_path / endpoint)
        assert len(metrics) == (1 if binary else 2) and metrics["note"].str.startswith(
            f"not enough data for 5-fold cross-validation: {counts}, left out {0 if binary else 1}; every test fold "
            "needs").all()


def test_endpoint_whose_column_the_registry_lacks_is_skipped_with_a_note(tmp_path: Path):
    write_tsv(hand_made_cohort(12), tmp_path / "cohort.tsv")
    settings = {**SETTINGS, "feature_sets": {"clinical": {"columns": ["age", "ldh"]}}, "binary_models": ["logistic"],
                "endpoints": {"irae": {"type": "binary", "column": "irae_any"},
                              "pfs": {"type": "survival", "time": "pfs_days", "event": "pfs_event"}}}
    for endpoint, binary, missing in (("irae", True, "column irae_any of endpoint irae is"),
                                      ("pfs", False, "columns pfs_days, pfs_event of endpoint pfs are")):
        metrics = noted_metrics(tmp_path / "cohort.tsv", endpoint, settings, binary, tmp_path / endpoint)
        assert set(metrics["note"]) == {f"{missing} not in the cohort table: add them to the registry or remove the "
                                        "endpoint from model.endpoints"}
        assert (metrics["n"] == 0).all() and (metrics["n_excluded"] == 12).all()


IMAGING_FREE = {**SETTINGS, "feature_sets": {"clinical": {"columns": ["age", "sex", "ecog", "ldh"]},
                                             "imaging": {"columns": ["bc_l3_smi_cm2m2", "ct_total_volume_ml"]}},
                "models": ["cox"], "cv": {"folds": 3, "repeats": 1, "seed": 0, "bootstrap": 50, "bootstrap_uno": 20},
                "horizons": [182]}


def imaging_free_cohort() -> pd.DataFrame:
    """The hand-made cohort with P06 never scanned (every imaging column empty), ECOG missing for two patients and
    LDH for one (P02, P03 lack body composition and lesions but have a follow-up change; P05 lacks os_days)."""
    cohort = hand_made_cohort(30)
    cohort.loc[6, [c for c in cohort.columns if c.startswith(("bc_", "ct_", "delta_"))]] = np.nan
    cohort.loc[[7, 8], "ecog"] = np.nan
    cohort.loc[9, "ldh"] = np.nan
    return cohort


def test_imputed_values_are_counted_and_a_patient_without_scans_is_left_out_of_every_set(tmp_path: Path):
    write_tsv(imaging_free_cohort(), tmp_path / "cohort.tsv")
    paths = model_paths(tmp_path / "os", False)
    model_endpoint(tmp_path / "cohort.tsv", "os", IMAGING_FREE, paths)

    metrics = read_tsv(paths["metrics"]).set_index("feature_set")
    assert (metrics["n"] == 28).all() and (metrics["n_excluded"] == 2).all()  # P05 (no os_days) and P06 (no scan)
    assert (metrics["n_no_imaging"] == 1).all()  # the clinical set too: the sets are compared on the same patients
    assert metrics["n_imputed_values"].to_dict() == {"clinical": 3, "imaging": 4}
    assert "P06" not in set(read_tsv(paths["oof"], dtype={"patient_id": "string"})["patient_id"])
    imputed = read_tsv(paths["imputed"])
    assert list(imputed.columns) == ["feature_set", "feature", "n_missing", "share", "method"]
    assert imputed.set_index(["feature_set", "feature"]).loc["clinical"].to_dict("index") == {
        "age": {"n_missing": 0, "share": 0.0, "method": "median"},
        "sex": {"n_missing": 0, "share": 0.0, "method": "most_frequent"},
        "ecog": {"n_missing": 2, "share": round(2 / 28, 4), "method": "median"},
        "ldh": {"n_missing": 1, "share": round(1 / 28, 4), "method": "median"}}
    assert imputed.loc[imputed.feature_set == "imaging", "n_missing"].tolist() == [2, 2]  # P02, P03


def test_imaging_is_imputed_for_patients_without_scans_only_where_the_config_says_so():
    cohort = imaging_free_cohort()
    study = prepare(cohort, "os", {**IMAGING_FREE, "impute_missing_imaging": True})
    assert len(study.y) == 29 and study.n_excluded == 1 and study.n_no_imaging == 1
    assert study.imputed().set_index(["feature_set", "feature"]).at[("imaging", "ct_total_volume_ml"), "n_missing"] == 3
    clinical_only = prepare(cohort, "os", {**IMAGING_FREE, "feature_sets": {"clinical": {"columns": ["age"]}}})
    assert len(clinical_only.y) == 29 and clinical_only.n_no_imaging_excluded == 0  # no set uses imaging


@pytest.mark.parametrize("n", [2, 3, 4])
def test_coxnet_on_a_training_fold_of_a_few_patients_takes_the_strongest_penalty_or_fewer_inner_folds(n) -> None:
    y = Surv.from_arrays(event=[k % 2 == 0 for k in range(n)], time=[10.0 + k for k in range(n)])
    model = CoxnetCV(transform="standard", inner_folds=3).fit(pd.DataFrame({"a": np.arange(n, dtype=float)}), y)
    assert model.inner_scores_.shape[0] == 3 and np.isfinite(model.inner_scores_[2]).sum() == 0  # 2 folds at most
    if n < 4:  # an inner training part of two patients cannot be formed: no inner score, the strongest penalty
        assert not np.isfinite(model.inner_scores_).any() and model.alpha_ == model.path_.alphas_[0]
