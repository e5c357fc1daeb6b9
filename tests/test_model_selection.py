"""Selection and harmonisation inside the folds of the model stage: the steps a feature set's ``select`` block and
``harmonise`` build, the ICC of robustness.tsv mapped onto cohort columns, and the leakage tests (permuted outcomes
give chance C-index and AUROC with the full selection; selection outside the folds would not)."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from wbrad.cohort.dictionary import data_dictionary
from wbrad.cohort.merge import scanner_column
from wbrad.io import read_tsv, write_tsv
from wbrad.model.endpoints import Endpoint, binary_target
from wbrad.model.metrics import auroc, cindex
from wbrad.model.pipelines import feature_steps, make_model, selected_features, unwrap, with_steps
from wbrad.model.run import design, model_endpoint, prepare
from wbrad.model.selection import UnivariateAUC, UnivariateCox, icc_of_columns
from wbrad.model.validation import cross_validate
from wbrad.study import FILE_MODALITY, model_paths

FEATURES = ["original_firstorder_Mean", "original_glcm_Correlation", "original_glszm_ZoneEntropy"]
FULL = {"near_zero_variance": True, "robust_icc": 0.75, "correlation": 0.9, "univariate": 10}


def wide_cohort(n: int = 200, n_features: int = 150, seed: int = 0, signal: float = 1.0) -> pd.DataFrame:
    """A cohort table with ``n_features`` radiomics-like columns in correlated groups of 5, two constant ones,
    body composition, a scanner (A/B, shifting every feature of B by one SD) and outcomes that depend on
    ``ct_vwmean_f000`` only (log hazard ``signal`` per SD; response and irAE from the same column)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, n_features // 5 + 1))
    values = np.repeat(base, 5, axis=1)[:, :n_features] + 0.2 * rng.normal(size=(n, n_features))
    scanner = rng.choice(["A", "B"], n)
    table = pd.DataFrame(values, columns=[f"ct_vwmean_f{j:03d}" for j in range(n_features)])
    true = table["ct_vwmean_f000"].to_numpy().copy()
    table += np.where(scanner == "B", 1.0, 0.0)[:, None]
    table["ct_vwmean_constant"] = 1.0
    table["pet_vwmean_constant"] = 0.0
    table["bc_l3_smi_cm2m2"] = rng.normal(45, 8, n)
    table.insert(0, "patient_id", [f"P{i:03d}" for i in range(n)])
    table["ecog"] = rng.integers(0, 3, n)
    table["scanner"] = scanner
    event_time = rng.exponential(np.exp(-signal * true)) * 365
    censor = rng.exponential(2 * 365, n)
    table["os_days"] = np.minimum(event_time, censor).round() + 1
    table["os_event"] = (event_time <= censor).astype(int)
    table["response"] = np.where(true + rng.normal(0, 0.5, n) > 0.3, "PR", "PD")
    return table


def test_feature_steps_follow_the_select_block_in_order():
    icc = pd.Series({"a": 0.9})
    steps = feature_steps(FULL, icc=icc, batch="scanner", harmonised=["a"])
    assert [name for name, _ in steps] == ["combat", "near_zero_variance", "robust_icc", "correlation", "univariate"]
    assert isinstance(steps[-1][1], UnivariateCox) and steps[-1][1].k == 10 and steps[0][1].features == ["a"]
    binary = feature_steps(FULL, binary=True)  # no ICC table: the robust filter is left out
    assert [name for name, _ in binary] == ["near_zero_variance", "correlation", "univariate"]
    assert isinstance(binary[-1][1], UnivariateAUC)
    model = make_model("coxnet", {})
    assert feature_steps(None) == [] and with_steps(model, []) is model


def test_icc_of_columns_maps_pyradiomics_names_onto_cohort_columns():
    robustness = pd.DataFrame({"feature": FEATURES * 2, "modality": ["CT"] * 3 + ["PT"] * 3,
                               "icc": [0.99, 0.5, 0.8, 0.95, 0.4, 0.7]})
    columns = ["ct_vwmean_original_firstorder_Mean", "ct_largest_original_glcm_Correlation",
               "delta_rel_ct_sd_original_glszm_ZoneEntropy", "pet_iqr_original_glcm_Correlation",
               "ct_total_volume_ml", "ldh", "pet_vwmean_original_firstorder_Median"]
    icc = icc_of_columns(robustness, columns, FILE_MODALITY)
    assert icc.to_dict() == {"ct_vwmean_original_firstorder_Mean": 0.99, "ct_largest_original_glcm_Correlation": 0.5,
                             "delta_rel_ct_sd_original_glszm_ZoneEntropy": 0.8,
                             "pet_iqr_original_glcm_Correlation": 0.4}


def _settings(select: dict | None = None, **extra) -> dict:
    return {"endpoints": {"os": {"type": "survival", "time": "os_days", "event": "os_event"},
                          "response": {"type": "binary", "column": "response", "positive": ["PR"]}},
            "feature_sets": {"clinical": {"columns": ["ecog"]},
                             "wide": {"columns": ["re:^ct_vwmean_", "re:^pet_vwmean_", "re:^bc_"], "select": select,
                                      "models": ["coxnet"], "binary_models": ["logistic"]}},
            "models": ["cox"], "binary_models": ["logistic"], "transform": "standard", "coxnet": {"n_alphas": 30},
            "logistic": {"n_cs": 4}, "landmark": {"enabled": False}, **extra}


def test_design_harmonises_imaging_columns_by_scanner_only_with_two_scanners():
    table = wide_cohort(60, 60)
    settings = _settings(FULL, harmonise={"batch": "scanner"})
    study = prepare(table, "os", settings)
    X, steps = design(study, "wide", settings, None)
    assert "scanner" in X and [n for n, _ in steps][:2] == ["combat", "near_zero_variance"]
    assert "ecog" not in steps[0][1].features and "ct_vwmean_f003" in steps[0][1].features
    X_clinical, steps_clinical = design(study, "clinical", settings, None)  # no imaging column: nothing to harmonise
    assert list(X_clinical.columns) == ["ecog"] and steps_clinical == []
    one = prepare(table.assign(scanner="A"), "os", settings)
    X_one, steps_one = design(one, "wide", settings, None)
    assert "scanner" not in X_one and "combat" not in dict(steps_one)
    fitted = with_steps(make_model("coxnet", settings), steps).fit(X, study.y)
    chosen = selected_features(fitted, list(X.columns))
    assert "scanner" not in chosen and len(chosen) == 10 and "ct_vwmean_f000" in chosen  # its group of 5 kept one
    assert not {"ct_vwmean_constant", "pet_vwmean_constant"} & set(fitted["near_zero_variance"].columns_)
    assert (fitted["combat"].transform(X)["pet_vwmean_constant"] == 0).all()  # constant columns stay constant
    assert sum(c.startswith("ct_vwmean_f00") and int(c[-1]) < 5 for c in fitted["correlation"].columns_) == 1


def test_combat_in_the_folds_removes_the_scanner_shift():
    table = wide_cohort(120, 10)
    settings = _settings(None, harmonise={"batch": "scanner"})
    study = prepare(table, "os", settings)
    X, steps = design(study, "wide", settings, None)
    harmonised = Pipeline(steps).fit(X, study.y).transform(X)
    b = X["scanner"].to_numpy() == "B"
    before = X.loc[b, "ct_vwmean_f005"].mean() - X.loc[~b, "ct_vwmean_f005"].mean()
    after = harmonised.loc[b, "ct_vwmean_f005"].mean() - harmonised.loc[~b, "ct_vwmean_f005"].mean()
    assert before > 0.7 and abs(after) < 0.1 and "scanner" not in harmonised


def _permuted(table: pd.DataFrame, endpoint: str, seed: int) -> pd.DataFrame:
    order = np.random.default_rng(seed).permutation(len(table))
    outcomes = ["os_days", "os_event", "response"]
    return table.assign(**{c: table[c].to_numpy()[order] for c in outcomes})


def test_permuted_outcomes_give_chance_cindex_with_the_wide_set_and_full_selection():
    """Leakage test: ComBat, near-zero variance, ICC, correlation and univariate Cox filters and coxnet, all in the
    folds, on permuted outcomes: C-index 0.45-0.55 averaged over 5 seeds. The same univariate selection made on all
    patients before the folds is optimistic (the test can fail)."""
    table = wide_cohort(240, 200, seed=1)
    icc = pd.Series(np.linspace(1.0, 0.6, 200), index=[f"ct_vwmean_f{j:03d}" for j in range(200)])
    settings = _settings(FULL, harmonise={"batch": "scanner"})
    inside, outside = [], []
    for seed in range(5):
        study = prepare(_permuted(table, "os", seed), "os", settings)
        X, steps = design(study, "wide", settings, icc)
        cv = {"folds": 3, "repeats": 1, "seed": seed}
        oof = cross_validate(with_steps(make_model("coxnet", settings, seed), steps), X, study.y, cv)
        inside.append(cindex(study.y, oof.risk[0]))
        leaked = UnivariateCox(10).fit(X.drop(columns="scanner"), study.y).columns_
        oof = cross_validate(make_model("coxnet", settings, seed), X[leaked], study.y, cv)
        outside.append(cindex(study.y, oof.risk[0]))
    assert 0.45 < np.mean(inside) < 0.55, inside
    assert np.mean(outside) > np.mean(inside) + 0.03, (outside, inside)


def test_permuted_outcomes_give_chance_auroc_for_the_binary_models():
    """Permuted classes, full selection in the (stratified) folds: AUROC 0.45-0.55 averaged over 5 seeds. Not fewer
    patients: with univariate selection, stratified CV on a small null sample is pessimistic (AUROC 0.44 at 200;
    Parker, Gunter and Bedo, BMC Bioinformatics 2007; 8:326)."""
    table = wide_cohort(400, 60, seed=2)
    settings = _settings(FULL)
    scores = {"logistic": [], "rf": []}
    for seed in range(5):
        permuted = _permuted(table, "response", seed)
        keep, y = binary_target(permuted, Endpoint("response", type="binary", column="response", positive=("PR",)))
        study = prepare(permuted, "response", settings)
        X, steps = design(study, "wide", settings, None)
        for name in scores:
            model = with_steps(make_model(name, {**settings, "rf": {"n_estimators": 60}}, seed), steps)
            oof = cross_validate(model, X, study.y, {"folds": 3, "repeats": 1, "seed": seed})
            scores[name].append(auroc(study.y, oof.risk[0]))
        assert keep.all() and (y == study.y).all()
    for name, values in scores.items():
        assert 0.45 < np.mean(values) < 0.55, (name, values)


@pytest.mark.parametrize("endpoint", ["os", "response"])
def test_model_endpoint_with_a_wide_set_selection_and_robustness_table(tmp_path: Path, endpoint: str):
    table = wide_cohort(80, 40, seed=3, signal=1.5)
    table = table.rename(columns={"ct_vwmean_f000": "ct_vwmean_original_firstorder_Mean",
                                  "ct_vwmean_f001": "ct_vwmean_original_glcm_Correlation"})
    write_tsv(table, tmp_path / "cohort.tsv")
    robustness = pd.DataFrame({"feature": ["original_firstorder_Mean", "original_glcm_Correlation"],
                               "modality": ["CT", "CT"], "icc": [0.95, 0.3], "icc_low": [0.9, 0.1],
                               "icc_high": [0.98, 0.5]})
    write_tsv(robustness, tmp_path / "robustness.tsv")
    settings = _settings(FULL, harmonise={"batch": "scanner"}, robustness_table=str(tmp_path / "robustness.tsv"),
                         cv={"folds": 3, "repeats": 1, "seed": 0, "bootstrap": 100, "bootstrap_uno": 20},
                         horizons=[365])
    binary = endpoint == "response"
    paths = model_paths(tmp_path / endpoint, binary)
    model_endpoint(tmp_path / "cohort.tsv", endpoint, settings, paths)
    metrics = read_tsv(paths["metrics"]).set_index("feature_set")
    assert list(metrics["model"]) == (["logistic", "logistic"] if binary else ["cox", "coxnet"])
    # 40 features in 8 correlated groups + 2 constant + body composition: one per group and bc_ left for univariate
    assert metrics.loc["wide", "n_features"] == 43 and metrics.loc["wide", "n_selected"] == 9
    score = "auroc" if binary else "cindex"
    assert metrics.loc["wide", score] > 0.7 and metrics.loc["wide", f"{score}_lo"] < metrics.loc["wide", f"{score}_hi"]
    saved = joblib.load(paths["model"])["models"][("wide", "logistic" if binary else "coxnet")]
    assert "ct_vwmean_original_firstorder_Mean" in saved["selected"]
    assert "ct_vwmean_original_glcm_Correlation" not in saved["selected"]  # ICC 0.3 < 0.75
    assert [name for name, _ in saved["estimator"].steps][:3] == ["combat", "near_zero_variance", "robust_icc"]
    assert unwrap(saved["estimator"]) is saved["estimator"][-1]
    risk = saved["estimator"].predict(table[saved["features"]]) if not binary else None
    assert binary or np.isfinite(risk).all()


def test_model_endpoint_skips_the_robust_filter_without_its_table(tmp_path: Path):
    table = wide_cohort(60, 10)
    write_tsv(table, tmp_path / "cohort.tsv")
    settings = _settings({"robust_icc": 0.75, "univariate": 3}, robustness_table=str(tmp_path / "absent.tsv"),
                         cv={"folds": 3, "repeats": 1, "seed": 0, "bootstrap": 50, "bootstrap_uno": 20},
                         horizons=[365])
    model_endpoint(tmp_path / "cohort.tsv", "os", settings, model_paths(tmp_path / "os", False))
    metrics = read_tsv(tmp_path / "os" / "metrics.tsv").set_index("feature_set")
    assert metrics.loc["wide", "n_selected"] == 3 and np.isfinite(metrics.loc["wide", "cindex"])



def test_the_cohort_carries_the_baseline_scanner_with_its_dictionary_entry():
    registry = pd.DataFrame({"patient_id": ["P1", "P2", "P3"]})
    column = scanner_column(registry, {"P1": "A", "P3": "C"})
    assert column.name == "scanner" and column.tolist()[::2] == ["A", "C"] and column.isna().tolist() == [0, 1, 0]
    entry = data_dictionary(["patient_id", "scanner"]).set_index("column").loc["scanner"]
    assert entry["unit"] == "category" and "baseline CT" in entry["description"] and entry["source"] == "manifest.tsv"
