"""Entry point of the model stage: one endpoint, every feature set x model, repeated CV and final refits."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from wbrad.io import atomic_path, read_tsv, write_json, write_tsv
from wbrad.model.endpoints import endpoint_from_settings, survival_target
from wbrad.model.features import resolve_feature_set
from wbrad.model.pipelines import coefficients, make_model
from wbrad.model.plots import KMPanel, km_plot
from wbrad.model.validation import validate

METRICS = ["endpoint", "feature_set", "model", "n", "events", "n_excluded", "cindex", "cindex_lo", "cindex_hi"]


def final_model(name: str, X: pd.DataFrame, y: np.ndarray, settings: dict, seed: int, threads: int) -> dict:
    """Refit on all patients; the feature list and, for Cox models, coefficients by output feature name."""
    fitted = make_model(name, settings, seed, threads).fit(X, y)
    coef = coefficients(fitted)
    return {"estimator": fitted, "features": list(X.columns),
            "coefficients": None if coef is None else coef.to_dict(),
            "coefficients_original_scale": None if coef is None else coefficients(fitted, True).to_dict(),
            "alpha": getattr(fitted[-1], "alpha_", None)}


def model_endpoint(cohort: Path, endpoint: str, settings: dict, out_dir: Path, threads: int = 1) -> None:
    """Validate every (feature set, model) of ``settings`` on ``endpoint``; write metrics, OOF risks, KM, models.

    Patients with a missing endpoint are dropped (counted as ``n_excluded`` in the metrics).
    """
    table = read_tsv(cohort, dtype={"patient_id": "string"})
    target = endpoint_from_settings(endpoint, settings)
    keep, y = survival_target(table, target)
    table, n_excluded = table[keep].reset_index(drop=True), int((~keep).sum())
    cv = settings.get("cv", {})
    seed = cv.get("seed", 0)
    rows, oof, panels, models = [], [], [], {}
    for feature_set in settings["feature_sets"]:
        X = table[resolve_feature_set(feature_set, settings["feature_sets"], list(table.columns))]
        best = None
        for name in settings["models"]:
            where = f"endpoint {endpoint}, feature set {feature_set}, model {name}"
            scores, risk = validate(make_model(name, settings, seed), X, y, cv, threads, where)
            rows.append({"endpoint": endpoint, "feature_set": feature_set, "model": name, "n": len(y),
                         "events": int(y["event"].sum()), "n_excluded": n_excluded, **scores})
            oof += [pd.DataFrame({"patient_id": table["patient_id"], "feature_set": feature_set, "model": name,
                                  "repeat": r, "risk": risk_r}) for r, risk_r in enumerate(risk)]
            if best is None or scores["cindex"] > best.cindex:
                best = KMPanel(f"{feature_set} ({name})", y, risk.mean(axis=0), scores["cindex"])
            models[(feature_set, name)] = final_model(name, X, y, settings, seed, threads)
        panels.append(best)
    write_outputs(Path(out_dir), pd.DataFrame(rows, columns=METRICS), pd.concat(oof, ignore_index=True), models)
    km_plot(panels, Path(out_dir) / "km.png", settings.get("risk_groups", 2),
            f"{endpoint}: out-of-fold risk groups (best model per feature set)", target.time)


def write_outputs(out_dir: Path, metrics: pd.DataFrame, oof: pd.DataFrame, models: dict) -> None:
    """metrics.tsv, metrics.json (the same records, NaN as null), oof_risk.tsv and model.joblib."""
    write_tsv(metrics, out_dir / "metrics.tsv")
    write_json(metrics.astype(object).where(metrics.notna(), None).to_dict(orient="records"), out_dir / "metrics.json")
    write_tsv(oof, out_dir / "oof_risk.tsv")
    with atomic_path(out_dir / "model.joblib") as tmp:
        joblib.dump({"endpoint": metrics["endpoint"].iloc[0], "models": models}, tmp)
