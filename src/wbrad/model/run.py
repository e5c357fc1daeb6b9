"""Entry point of the model stage: one endpoint, every feature set x model, repeated nested CV and final refits."""

from __future__ import annotations

import logging
import re
import sys
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone

from wbrad.io import atomic_path, read_tsv, write_json, write_tsv
from wbrad.model.endpoints import (
    Endpoint,
    binary_target,
    empty_target,
    endpoint_from_settings,
    landmark,
    missing_columns,
    survival_target,
)
from wbrad.model.features import (
    IMAGING_COLUMNS,
    IMPUTED_COLUMNS,
    imaging_columns,
    imputed_values,
    resolve_feature_set,
    without_imaging,
)
from wbrad.model.metrics import auroc, cindex, paired_gain
from wbrad.model.pipelines import (
    coefficients,
    feature_steps,
    hyperparameters,
    importances,
    make_model,
    selected_features,
    with_steps,
)
from wbrad.model.plots import KMPanel, calibration_plot, km_plot, plt, roc_plot, tdauc_plot
from wbrad.model.selection import icc_of_columns
from wbrad.model.validation import binary_summary, cross_validate, survival_summary
from wbrad.study import EXCLUSIONS, FILE_MODALITY, LANDMARK

log = logging.getLogger(__name__)

HORIZONS = [182.0, 365.0, 730.0]  # days: 6, 12 and 24 months
KEY = ["feature_set", "model"]
GAIN_COLUMNS = ["endpoint", "model", "feature_set", "reference", "measure", "gain", "gain_lo", "gain_hi"]
TABLE_COLUMNS = {  # the tables beside metrics, as the stage writes them (headers of the empty ones it writes too)
    "gains": GAIN_COLUMNS,
    "oof": ["patient_id", *KEY, "repeat", "risk"],
    "importances": [*KEY, "feature", "importance", "coefficient", "rank"],
    "calibration_table": ["horizon", "group", "n", "predicted", "observed", *KEY, "ici"],
    "tdauc_table": ["horizon", "auc", "auc_sd", "folds", *KEY],
}
PICTURES = ("km", "tdauc", "calibration", "roc")


@dataclass
class Study:
    """The patients and target of one endpoint, shared by all feature sets (so that their comparison is paired).

    ``n_no_imaging`` patients have no value in any imaging column (no scan): left out of every feature set when one
    uses imaging (counted in ``n_excluded``), or kept with imputed values where ``impute_missing_imaging`` is set.
    """

    endpoint: Endpoint
    table: pd.DataFrame
    y: np.ndarray
    n_excluded: int
    landmark: bool
    feature_sets: dict[str, list[str]] = field(default_factory=dict)
    n_no_imaging: int = 0
    n_no_imaging_excluded: int = 0  # of n_no_imaging, also in n_excluded
    n_excluded_scans: int = 0  # scans the cohort stage left out (failed or missing: exclusions.tsv beside the cohort)

    def imputed(self) -> pd.DataFrame:
        """Per feature set and feature, the values imputed in its folds (``wbrad.model.features.imputed_values``)."""
        tables = [imputed_values(self.table[columns], name) for name, columns in self.feature_sets.items()]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=IMPUTED_COLUMNS)


def _uses_landmark(settings: dict, feature_sets: dict[str, list[str]]) -> bool:
    spec = settings.get("landmark", {})
    pattern = re.compile(spec.get("features", "^(delta_|tracked_)"))  # follow-up features: deltas, lesion tracks
    return spec.get("enabled", True) and any(pattern.search(c) for cols in feature_sets.values() for c in cols)


def feature_sets(settings: dict, columns: list[str]) -> dict[str, list[str]]:
    """Every configured feature set resolved to the cohort table's ``columns``."""
    return {name: resolve_feature_set(name, settings["feature_sets"], columns) for name in settings["feature_sets"]}


def prepare(cohort: pd.DataFrame, endpoint: str, settings: dict) -> Study:
    """Feature sets, landmark (when a set uses follow-up features and the endpoint has a time), target, and the
    patients without any scan left out (see :class:`Study`); left-out patients count under the first reason that
    applies: landmark, endpoint, no scan.

    The landmark day per patient is the cohort column ``landmark.column`` (days after the time origin).
    """
    target = endpoint_from_settings(endpoint, settings)
    sets = feature_sets(settings, list(cohort.columns))
    use_landmark = bool(target.time) and _uses_landmark(settings, sets)
    n_landmark = 0
    if use_landmark:
        column = settings.get("landmark", {}).get("column", LANDMARK)
        if column not in cohort:
            raise KeyError(f"endpoint {endpoint!r}: follow-up features need the landmark column {column!r} "
                           f"(days from the time origin to the follow-up scan), which is not in the cohort table")
        days = pd.to_numeric(cohort[column], errors="raise").to_numpy(dtype=float, na_value=np.nan)
        cohort, n_landmark = landmark(cohort, target, days)
    keep, y = (binary_target if target.binary else survival_target)(cohort, target)
    table, y, n_no_imaging, left_out = _without_imaging(cohort[keep].reset_index(drop=True), y, sets, settings)
    return Study(target, table, y, n_landmark + int((~keep).sum()) + left_out, use_landmark, sets, n_no_imaging,
                 left_out)


def _without_imaging(table: pd.DataFrame, y: np.ndarray, sets: dict[str, list[str]],
                     settings: dict) -> tuple[pd.DataFrame, np.ndarray, int, int]:
    """The patients kept, their target, how many have no scan (every imaging column missing), and how many of those
    were left out: from every feature set when one uses imaging (so that the sets are compared on the same
    patients), unless ``impute_missing_imaging``."""
    pattern = settings.get("imaging_columns", IMAGING_COLUMNS)
    empty = without_imaging(table, pattern).to_numpy()
    uses_imaging = any(imaging_columns(columns, pattern) for columns in sets.values())
    if settings.get("impute_missing_imaging", False) or not uses_imaging or not empty.any():
        return table, y, int(empty.sum()), 0
    return table[~empty].reset_index(drop=True), y[~empty], int(empty.sum()), int(empty.sum())


def set_models(feature_set: str, settings: dict, binary: bool) -> list[str]:
    """The models of a feature set: its own ``models`` / ``binary_models`` list, else the stage's."""
    key = "binary_models" if binary else "models"
    default = settings.get(key, ["logistic", "rf"] if binary else None)
    return list(settings["feature_sets"][feature_set].get(key, default))


def robust_icc(settings: dict, columns: list[str]) -> pd.Series | None:
    """ICC per cohort column from the table ``robustness_table`` (``robustness.tsv``: feature, modality, icc, ...)
    when the config names one and it exists; None otherwise (the robust filter is then skipped, with a log line).
    The ICC needs no outcome: a filter on it, computed on the whole cohort, cannot leak outcomes."""
    path = settings.get("robustness_table")
    if not path:
        return None
    if not Path(path).is_file():
        log.warning("robustness table %s not found: robust-feature filters skipped", path)
        return None
    return icc_of_columns(read_tsv(path), columns, FILE_MODALITY)


def design(study: Study, feature_set: str, settings: dict, icc: pd.Series | None) -> tuple[pd.DataFrame, list]:
    """The model input of a feature set and the steps before its model (:func:`wbrad.model.pipelines.feature_steps`):
    ComBat by ``harmonise.batch`` on the set's imaging columns when the cohort has that column with more than one
    batch among the endpoint's patients (missing batch: ``unknown``); the set's ``select`` steps."""
    columns = study.feature_sets[feature_set]
    X = study.table[columns]
    batch = settings.get("harmonise", {}).get("batch")
    imaging = imaging_columns(columns, settings.get("imaging_columns", IMAGING_COLUMNS))
    use_batch = batch is not None and batch in study.table and batch not in columns and bool(imaging)
    if use_batch and study.table[batch].dropna().nunique() > 1:
        X = pd.concat([X, study.table[batch].astype("string").fillna("unknown").rename(batch)], axis=1)
    else:
        batch = None
    steps = feature_steps(settings["feature_sets"][feature_set].get("select"), study.endpoint.binary, icc, batch,
                          imaging)
    return X, steps


def final_model(name: str, X: pd.DataFrame, y: np.ndarray, settings: dict, seed: int, threads: int,
                steps: list = ()) -> dict:
    """Refit on all patients: the estimator, input and selected features, coefficients or importances, chosen
    hyper-parameters."""
    fitted = clone(with_steps(make_model(name, settings, seed, threads), list(steps))).fit(X, y)
    coef = coefficients(fitted)
    return {"estimator": fitted, "features": list(X.columns), "selected": selected_features(fitted, list(X.columns)),
            "importances": importances(fitted).to_dict(),
            "coefficients": None if coef is None else coef.to_dict(),
            "coefficients_original_scale": None if coef is None else coefficients(fitted, True).to_dict(),
            **hyperparameters(fitted)}


def _evaluate(study: Study, X: pd.DataFrame, name: str, settings: dict, threads: int, where: str,
              steps: list = ()) -> tuple:
    """(scores, out-of-fold predictions, calibration table or None, td-AUC table or None)."""
    cv, horizons = settings.get("cv", {}), settings.get("horizons", HORIZONS)
    model = with_steps(make_model(name, settings, cv.get("seed", 0)), list(steps))
    if study.endpoint.binary:
        oof = cross_validate(model, X, study.y, cv, (), threads, where)
        return binary_summary(oof, study.y, cv), oof, None, None
    oof = cross_validate(model, X, study.y, cv, horizons, threads, where)
    scores, calibration = survival_summary(oof, study.y, horizons, cv, settings.get("calibration_groups", 4))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():  # a horizon no fold supports is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        tdauc = pd.DataFrame({"horizon": horizons, "auc": np.nanmean(oof.fold_auc, axis=0),
                              "auc_sd": np.nanstd(oof.fold_auc, axis=0),
                              "folds": np.isfinite(oof.fold_auc).sum(axis=0)})
    return scores, oof, calibration, tdauc


def model_endpoint(cohort: Path, endpoint: str, settings: dict, outputs: dict[str, str], threads: int = 1) -> None:
    """Validate every (feature set, model) of ``settings`` on ``endpoint``; write metrics, gains, OOF predictions,
    plots, importances and the refitted models to ``outputs`` (name -> path, the names of ``wbrad.study.MODEL_FILES``
    that the rule declares: survival endpoints add calibration and td-AUC, binary ones a ROC curve).

    Patients with a missing endpoint, or (landmark analysis) without event-free follow-up to the follow-up scan, are
    left out (``n_excluded``). When too few patients or events remain for the folds (``not_enough_data``), every
    output is still written, saying why (metrics ``note``; see ``write_not_enough``), and the stage succeeds.
    """
    table = read_tsv(cohort, dtype={"patient_id": "string"})
    study, reason = without_endpoint(table, endpoint, settings)
    if study is None:
        study = prepare(table, endpoint, settings)
        reason = not_enough_data(study, settings.get("cv", {}).get("folds", 5))
    study.n_excluded_scans = excluded_scans(Path(cohort))
    seed = settings.get("cv", {}).get("seed", 0)
    out = {"metrics": [], "oof": [], "calibration": [], "tdauc": [], "importances": []}
    risks, models = {}, {}
    names = {s: set_models(s, settings, study.endpoint.binary) for s in study.feature_sets}
    paths = {name: Path(value) for name, value in outputs.items()}
    write_imputed(paths["imputed"], study)
    if reason:
        log.warning("endpoint %s: %s", endpoint, reason)
        print(f"wbrad model: endpoint {endpoint} not validated: {reason}", file=sys.stderr)  # on Snakemake's console
        write_not_enough(paths, study, names, reason)
        return
    icc = robust_icc(settings, list(study.table.columns))
    for feature_set, columns in study.feature_sets.items():
        X, steps = design(study, feature_set, settings, icc)
        for name in names[feature_set]:
            where = f"endpoint {endpoint}, feature set {feature_set}, model {name}"
            start = time.perf_counter()
            scores, oof, calibration, tdauc = _evaluate(study, X, name, settings, threads, where, steps)
            key = {"feature_set": feature_set, "model": name}
            models[(feature_set, name)] = final_model(name, X, study.y, settings, seed, threads, steps)
            out["metrics"].append({"endpoint": endpoint, **key, "n": len(study.y), **_counts(study, feature_set),
                                   "landmark": study.landmark, "n_features": len(columns),
                                   "n_selected": len(models[(feature_set, name)]["selected"]), **scores,
                                   "seconds": round(time.perf_counter() - start, 2)})
            out["oof"] += [pd.DataFrame({"patient_id": study.table["patient_id"], **key, "repeat": r,
                                         "risk": risk_r}) for r, risk_r in enumerate(oof.risk)]
            if calibration is not None:
                ici = {h: scores[f"ici_{h:g}"] for h in calibration["horizon"].unique()}
                out["calibration"].append(calibration.assign(**key, ici=calibration["horizon"].map(ici)))
                out["tdauc"].append(tdauc.assign(**key))
            risks[(feature_set, name)] = oof.risk.mean(axis=0)
            out["importances"].append(_importance_table(models[(feature_set, name)], key))
    write_outputs(paths, study, out, gains(study, risks, settings), models)
    plot_outputs(paths, study, out, risks, settings)


def without_endpoint(table: pd.DataFrame, endpoint: str, settings: dict) -> tuple[Study | None, str | None]:
    """A study of no patients and the note why, when the cohort table lacks a column the endpoint reads (a registry
    without, e.g., adverse events: the endpoint is skipped with that note rather than stopping the workflow);
    ``(None, None)`` otherwise."""
    target = endpoint_from_settings(endpoint, settings)
    missing = missing_columns(target, list(table.columns))
    if not missing:
        return None, None
    sets = feature_sets(settings, list(table.columns))
    columns, verb = ("column", "is") if len(missing) == 1 else ("columns", "are")
    reason = (f"{columns} {', '.join(missing)} of endpoint {endpoint} {verb} not in the cohort table: add them to the "
              "registry or remove the endpoint from model.endpoints")
    return Study(target, table.iloc[:0], empty_target(target), len(table), False, sets), reason


def excluded_scans(cohort: Path) -> int:
    """The number of scans in ``exclusions.tsv`` beside ``cohort`` (written by the same job; 0 without one), with a
    log line naming them."""
    path = cohort.with_name(Path(EXCLUSIONS).name)
    if not path.is_file():
        return 0
    table = read_tsv(path, dtype=str)
    scans = table[table["timepoint"].notna()]
    if len(scans):
        log.warning("%d scans left out of the cohort (%s): %s", len(scans), path,
                    "; ".join(f"{r.patient_id} {r.timepoint} {r.modality} ({r.stage})" for r in scans.itertuples()))
    return len(scans)


def _counts(study: Study, feature_set: str | None = None) -> dict[str, int]:
    """Events and left-out patients; with a ``feature_set`` also its patients without imaging and imputed values."""
    events = int(study.y["event"].sum()) if not study.endpoint.binary else int(study.y.sum())
    counts = {"events": events, "n_excluded": study.n_excluded}
    if feature_set is None:
        return counts
    imputed = int(study.table[study.feature_sets[feature_set]].isna().to_numpy().sum())
    return {**counts, "n_no_imaging": study.n_no_imaging, "n_imputed_values": imputed,
            "n_excluded_scans": study.n_excluded_scans}


def write_imputed(path: Path, study: Study) -> None:
    """``imputed.tsv`` (per feature set and feature: ``n_missing``, ``share``, ``method``), and a log line saying how
    many values are imputed and how many patients lack imaging."""
    table = study.imputed()
    write_tsv(table, path)
    per_set = table.groupby("feature_set", sort=False)["n_missing"].sum()
    log.log(logging.WARNING if per_set.any() or study.n_no_imaging else logging.INFO,
            "endpoint %s: imputed values per feature set: %s; %d patients without any scan, %d of them left out of "
            "every feature set", study.endpoint.name, ", ".join(f"{k} {v}" for k, v in per_set.items()) or "none",
            study.n_no_imaging, study.n_no_imaging_excluded)


def not_enough_data(study: Study, folds: int) -> str | None:
    """Why ``folds``-fold cross-validation, stratified by outcome, cannot run on the study's patients (None when it
    can): every test fold needs a patient and an event (survival), or a patient of each class and every training
    fold two of each, for the penalty's inner folds (binary: ``folds`` + 1 of each class)."""
    n, events = len(study.y), _counts(study)["events"]
    classes = {"with the event": events, "without": n - events} if study.endpoint.binary else {"events": events}
    if n >= folds and min(classes.values()) >= folds + int(study.endpoint.binary):
        return None
    found = ", ".join(f"{name} {count}" for name, count in {"patients": n, **classes}.items())
    landmark = " (landmark at the follow-up scan)" if study.landmark else ""
    need = "a patient of each class, every training fold two" if study.endpoint.binary else "an event"
    return (f"not enough data for {folds}-fold cross-validation: {found}, left out {study.n_excluded}{landmark}; "
            f"every test fold needs {need}: add patients or lower model.cv.folds (at least 2)")


def note_picture(path: Path, title: str, note: str) -> None:
    """A picture holding only a note, in place of a plot that cannot be drawn."""
    fig = plt.figure(figsize=(7, 2))
    fig.text(0.02, 0.92, f"{title}\n\n{note}", va="top", fontsize="small")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write_not_enough(paths: dict[str, Path], study: Study, names: dict[str, list[str]], reason: str) -> None:
    """Every output of an endpoint that cannot be validated: one metrics row per feature set and model with
    ``n``, ``events`` and the ``note`` why, the other tables empty (headers only), pictures holding the note, and a
    model file without models."""
    metrics = pd.DataFrame([{"endpoint": study.endpoint.name, "feature_set": feature_set, "model": name,
                             "n": len(study.y), **_counts(study, feature_set), "landmark": study.landmark,
                             "note": reason}
                            for feature_set in study.feature_sets for name in names[feature_set]])
    write_tsv(metrics, paths["metrics"])
    write_json(metrics.to_dict(orient="records"), paths["metrics_json"])
    for name in TABLE_COLUMNS.keys() & paths.keys():
        write_tsv(pd.DataFrame(columns=TABLE_COLUMNS[name]), paths[name])
    for name in paths.keys() & set(PICTURES):
        note_picture(paths[name], f"{study.endpoint.name}: {paths[name].name} not drawn", textwrap.fill(reason, 80))
    with atomic_path(paths["model"]) as tmp:
        joblib.dump({"endpoint": study.endpoint.name, "landmark": study.landmark, "models": {}, "note": reason}, tmp)


def _importance_table(model: dict, key: dict) -> pd.DataFrame:
    scores = pd.Series(model["importances"], dtype=float)
    coef = pd.Series(model["coefficients"] or {}, dtype=float).reindex(scores.index)
    return pd.DataFrame({**key, "feature": scores.index, "importance": scores.to_numpy(), "coefficient": coef,
                         "rank": scores.rank(ascending=False, method="min").to_numpy()})


def gains(study: Study, risks: dict, settings: dict) -> pd.DataFrame:
    """Per model, the paired gain (C-index, or AUROC for binary endpoints) of each feature set over the reference
    set (``reference_set``, by default the first), with its paired bootstrap interval; a model the reference set
    does not run (a set's own ``models``) has no gain."""
    sets = list(study.feature_sets)
    reference = settings.get("reference_set", sets[0])
    cv = settings.get("cv", {})
    score = auroc if study.endpoint.binary else cindex
    rows = []
    for (feature_set, name), risk in risks.items():
        if feature_set != reference and (reference, name) in risks:
            gain, lo, hi = paired_gain(score, study.y, risk, risks[(reference, name)], cv.get("bootstrap", 1000),
                                       cv.get("seed", 0))
            rows.append({"endpoint": study.endpoint.name, "model": name, "feature_set": feature_set,
                         "reference": reference, "measure": "auroc" if study.endpoint.binary else "cindex",
                         "gain": gain, "gain_lo": lo, "gain_hi": hi})
    return pd.DataFrame(rows, columns=GAIN_COLUMNS)


def write_outputs(paths: dict[str, Path], study: Study, out: dict, gain_table: pd.DataFrame, models: dict) -> None:
    """The tables (metrics also as JSON, NaN as null; calibration and td-AUC for survival) and the model file."""
    metrics = pd.DataFrame(out["metrics"])
    write_tsv(metrics, paths["metrics"])
    write_json(metrics.astype(object).where(metrics.notna(), None).to_dict(orient="records"), paths["metrics_json"])
    write_tsv(gain_table, paths["gains"])
    write_tsv(pd.concat(out["oof"], ignore_index=True), paths["oof"])
    write_tsv(pd.concat(out["importances"], ignore_index=True), paths["importances"])
    if not study.endpoint.binary:
        write_tsv(pd.concat(out["calibration"], ignore_index=True), paths["calibration_table"])
        write_tsv(pd.concat(out["tdauc"], ignore_index=True), paths["tdauc_table"])
    with atomic_path(paths["model"]) as tmp:
        joblib.dump({"endpoint": study.endpoint.name, "landmark": study.landmark, "models": models}, tmp)


def _best_per_set(metrics: pd.DataFrame, measure: str) -> pd.DataFrame:
    return metrics.loc[metrics.groupby("feature_set", sort=False)[measure].idxmax()]


def plot_outputs(paths: dict[str, Path], study: Study, out: dict, risks: dict, settings: dict) -> None:
    """Kaplan-Meier, td-AUC and calibration pictures (survival) or the ROC curve (binary), best model per set."""
    name, metrics = study.endpoint.name, pd.DataFrame(out["metrics"])
    origin = "follow-up scan (landmark)" if study.landmark else "therapy start"
    if study.endpoint.binary:
        best = _best_per_set(metrics, "auroc")
        roc_plot({f"{r.feature_set} ({r.model}), AUROC {r.auroc:.3f}": (study.y, risks[(r.feature_set, r.model)])
                  for r in best.itertuples()}, paths["roc"], f"{name}: out-of-fold ROC")
        return
    best = _best_per_set(metrics, "cindex")
    panels = [KMPanel(f"{r.feature_set} ({r.model})", study.y, risks[(r.feature_set, r.model)], r.cindex)
              for r in best.itertuples()]
    km_plot(panels, paths["km"], settings.get("risk_groups", 2),
            f"{name}: out-of-fold risk groups (best model per feature set)", f"{study.endpoint.time} from {origin}")
    chosen = set(zip(best["feature_set"], best["model"], strict=True))
    pick = lambda t: t[[k in chosen for k in zip(t["feature_set"], t["model"], strict=True)]]  # noqa: E731
    tdauc_plot(pick(pd.concat(out["tdauc"])), paths["tdauc"], f"{name}: time-dependent AUC",
               f"days from {origin}")
    calibration_plot(pick(pd.concat(out["calibration"])), paths["calibration"],
                     f"{name}: calibration of predicted survival (out of fold)")
