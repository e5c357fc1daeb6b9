"""``robustness.tsv`` rows and the plot of the ICC distribution per feature class.

``robustness_rows(perturbed, modality)`` turns the long table of ``perturb.perturbed_features`` (one row per lesion
and perturbation; with ``patient_id``/``timepoint`` columns when several scans are stacked) into one row per feature:
``feature, modality, feature_class, icc, icc_low, icc_high, volume_rho, n_lesions, n_perturbations`` (``volume_rho``:
Spearman's rho with the lesion volume across lesions, ``volume_correlation``). The same function takes a
test-retest table (``repeat="timepoint"``, subject ``patient_id, lesion`` of matched lesions). The ICC needs no
outcome, so a robust-feature filter computed on the whole cohort cannot leak outcomes into the models.

``plot_icc(robustness, path)`` draws, per modality, the ICC of every feature by feature class (box and points) with
lines at 0.75 and 0.9 (Koo and Li, J Chiropr Med 2016: good and excellent reliability), and below it the ICC against
|rho| with the volume (volume surrogates right of 0.9), written atomically as PNG.

The workflow's files: each per-scan job writes its perturbed values in long format (``long_values``), the cohort job
stacks them (``read_perturbed``, failed placeholders left out) and writes ``robustness.tsv`` and the plot
(``cohort_robustness``). This module imports matplotlib only to plot, and no pyradiomics.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from wbrad import integrity
from wbrad.io import atomic_path, read_tsv, write_json, write_tsv
from wbrad.lesions.diameters import AXIS_COLUMNS
from wbrad.robustness import PERTURBATION

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

log = logging.getLogger(__name__)

ROBUSTNESS_COLUMNS = ["feature", "modality", "feature_class", "icc", "icc_low", "icc_high", "volume_rho",
                      "n_lesions", "n_perturbations"]
VOLUME_FEATURES = ("volume_ml", "original_shape_VoxelVolume")  # the lesion volume volume_rho is computed against
SURROGATE_RHO = 0.9  # |volume_rho| at or above: the feature is a volume surrogate (drawn as a line)
SUBJECT_KEYS = ("patient_id", "timepoint", "lesion")  # those present identify a lesion
GEOMETRY = "geometry"  # feature class of wbrad's own lesion measures (volume, RECIST axes)
GEOMETRY_FEATURES = ["volume_ml", *AXIS_COLUMNS]
PYRADIOMICS_NAME = re.compile(r"^(?P<image>[A-Za-z0-9.\-]+)_(?P<cls>shape2D|shape|firstorder|glcm|glrlm|glszm|gldm"
                              r"|ngtdm)_(?P<name>\w+)$")
THRESHOLDS = (0.75, 0.9)


def feature_class(name: str) -> str:
    """The pyradiomics class of a feature column (``original_glszm_ZoneEntropy`` -> ``glszm``); ``geometry`` for
    volume and axes, ``other`` otherwise."""
    match = PYRADIOMICS_NAME.match(name)
    return match["cls"] if match else GEOMETRY if name in GEOMETRY_FEATURES else "other"


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The columns whose robustness is measured: pyradiomics features, volume and RECIST axes."""
    return [c for c in table.columns if PYRADIOMICS_NAME.match(c) or c in GEOMETRY_FEATURES]


def volume_correlation(values: pd.DataFrame, subject: Sequence[str], features: Sequence[str]) -> pd.Series:
    """Per feature, Spearman's rho across lesions between its mean over the repeats and the lesion's volume
    (``VOLUME_FEATURES``, the first present); NaN without a volume, for a constant feature or under 3 lesions.
    A feature with |rho| near 1 only restates the volume and adds nothing to a model that has it."""
    volume = next((c for c in VOLUME_FEATURES if c in values), None)
    means = None if volume is None else values.groupby(list(subject))[list(dict.fromkeys([*features, volume]))].mean()
    if means is None or len(means) < 3:
        return pd.Series(np.nan, index=list(features), dtype=float)
    ranks = means.rank()
    with np.errstate(invalid="ignore", divide="ignore"):
        return ranks[list(features)].corrwith(ranks[volume]).astype(float)


def robustness_rows(perturbed: pd.DataFrame, modality: str, repeat: str = PERTURBATION,
                    subject: Sequence[str] | None = None, features: Sequence[str] | None = None) -> pd.DataFrame:
    """One ``robustness.tsv`` row per feature (module docstring). ``subject`` defaults to the columns of
    ``patient_id, timepoint, lesion`` present (less ``repeat``); ``features`` to ``feature_columns``."""
    subject = [c for c in SUBJECT_KEYS if c in perturbed.columns and c != repeat] if subject is None else subject
    features = feature_columns(perturbed) if features is None else list(features)
    from wbrad.robustness.icc import icc_table  # scipy.stats: the cohort jobs', not the per-scan robustness job's

    icc = icc_table(perturbed, list(subject), repeat, features)
    rho = volume_correlation(perturbed, subject, features) if features else pd.Series(dtype=float)
    return pd.DataFrame({
        "feature": icc["feature"], "modality": modality, "feature_class": icc["feature"].map(feature_class),
        "icc": icc["icc"], "icc_low": icc["icc_low"], "icc_high": icc["icc_high"],
        "volume_rho": icc["feature"].map(rho).astype(float), "n_lesions": icc["n_subjects"],
        "n_perturbations": icc["n_repeats"],
    })[ROBUSTNESS_COLUMNS]


def _panel(ax: plt.Axes, rows: pd.DataFrame, title: str, thresholds: Sequence[float]) -> None:
    rows = rows.dropna(subset=["icc"])
    classes = sorted(rows["feature_class"].unique())
    groups = [rows.loc[rows["feature_class"] == c, "icc"].to_numpy() for c in classes]
    if groups:
        ax.boxplot(groups, tick_labels=classes, showfliers=False)
    jitter = np.random.default_rng(0)
    for i, values in enumerate(groups, 1):
        ax.scatter(i + jitter.uniform(-0.15, 0.15, len(values)), values, s=8, alpha=0.6, color="tab:blue")
    for t, style in zip(thresholds, ("--", ":"), strict=False):
        ax.axhline(t, color="grey", linestyle=style, linewidth=1, label=f"ICC {t}")
    low = min([0.0, *(float(g.min()) for g in groups if len(g))])
    ax.set(title=title, ylabel="ICC(1,1)", ylim=(low - 0.02, 1.02))
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(loc="lower left", fontsize="small")


def _surrogate_panel(ax: plt.Axes, rows: pd.DataFrame, thresholds: Sequence[float]) -> None:
    """ICC against |Spearman rho| with the lesion volume, a point per feature: robust features right of the
    surrogate line only restate the volume."""
    rows = rows.dropna(subset=["icc", "volume_rho"])
    for feature_class_, part in rows.groupby("feature_class"):
        ax.scatter(part["volume_rho"].abs(), part["icc"], s=10, alpha=0.7, label=feature_class_)
    ax.axvline(SURROGATE_RHO, color="tab:red", linestyle="--", linewidth=1, label=f"|rho| {SURROGATE_RHO}")
    ax.axhline(thresholds[0], color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="|Spearman rho| with lesion volume", ylabel="ICC(1,1)", xlim=(-0.02, 1.02),
           title=f"volume surrogates: {int((rows['volume_rho'].abs() >= SURROGATE_RHO).sum())} of {len(rows)} features")
    ax.legend(loc="lower left", fontsize="x-small", ncol=3)


def plot_icc(robustness: pd.DataFrame, path: str | Path, thresholds: Sequence[float] = THRESHOLDS,
             suptitle: str = "Feature robustness under image perturbation") -> None:
    """Per modality, the ICC of each feature by class (box + points) with lines at ``thresholds``; PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modalities = list(dict.fromkeys(robustness["modality"])) or ["(none)"]
    fig, axes = plt.subplots(2, len(modalities), figsize=(6 * len(modalities), 9), squeeze=False)
    for ax, surrogate, modality in zip(axes[0], axes[1], modalities, strict=True):
        rows = robustness[robustness["modality"] == modality]
        n = int(rows["n_lesions"].max()) if len(rows) else 0
        _panel(ax, rows, f"{modality}: {len(rows)} features, {n} lesions", thresholds)
        _surrogate_panel(surrogate, rows, thresholds)
    fig.suptitle(suptitle)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


# --- the workflow's files: per scan the perturbed values in long format, per cohort robustness.tsv and its plot ------
SCAN_KEYS = ["patient_id", "timepoint", "modality", "lesion", PERTURBATION]
LONG_COLUMNS = [*SCAN_KEYS, "feature", "value"]


def long_values(perturbed: pd.DataFrame, patient: str, timepoint: str, modality: str) -> pd.DataFrame:
    """The ``perturb.perturbed_features`` table of one scan in long format (``LONG_COLUMNS``), one row per lesion,
    perturbation and feature (``feature_columns``); missing values (failed lesions) are left out."""
    features = feature_columns(perturbed)
    long = perturbed.melt(id_vars=["lesion", PERTURBATION], value_vars=features, var_name="feature",
                          value_name="value").dropna(subset=["value"])
    long.insert(0, "patient_id", patient)
    long.insert(1, "timepoint", timepoint)
    long.insert(2, "modality", modality)
    return long.sort_values(["lesion", PERTURBATION], kind="stable")[LONG_COLUMNS].reset_index(drop=True)


def wide_values(long: pd.DataFrame) -> pd.DataFrame:
    """Long values back to one row per scan, lesion and perturbation, features as columns in their first order."""
    wide = long.pivot(index=SCAN_KEYS, columns="feature", values="value")
    return wide[list(pd.unique(long["feature"]))].reset_index().rename_axis(columns=None)


def read_perturbed(paths: Iterable[str | Path]) -> pd.DataFrame:
    """The per-scan long tables stacked; failed placeholders (scans that failed upstream) are left out, logged."""
    long = read_tables(paths)
    return long[LONG_COLUMNS].dropna(subset=["value"]) if len(long) else pd.DataFrame(columns=LONG_COLUMNS)


def cohort_rows(long: pd.DataFrame) -> pd.DataFrame:
    """``robustness.tsv``: ``robustness_rows`` per modality of the stacked long tables (every lesion of every scan
    is a subject)."""
    if long.empty:
        return pd.DataFrame(columns=ROBUSTNESS_COLUMNS)
    wide = wide_values(long)
    parts = [robustness_rows(wide[wide["modality"] == m].drop(columns="modality"), m)
             for m in pd.unique(wide["modality"])]
    return pd.concat(parts, ignore_index=True)


def cohort_robustness(tables: Iterable[str | Path], out_tsv: str | Path, out_png: str | Path) -> pd.DataFrame:
    """The cohort job: the per-scan perturbed tables -> ``robustness.tsv`` and its plot (``plot_icc``)."""
    tables = list(tables)
    rows = cohort_rows(read_perturbed(tables))
    for modality, part in rows.groupby("modality", sort=False):
        icc = part["icc"]
        log.info("%s: %d features, %d lesions; ICC median %.3f, %d >= 0.9, %d < 0.75", modality, len(part),
                 part["n_lesions"].max(), icc.median(), (icc >= 0.9).sum(), (icc < 0.75).sum())
    write_tsv(rows, out_tsv)
    plot_icc(rows, out_png)
    log.info("robustness of %d scan tables -> %s, %s", len(tables), out_tsv, out_png)
    return rows


# --- test-retest: the same ICC from real repeat scans, lesions paired by label, and its agreement with perturbation --
RETEST_COLUMNS = [*ROBUSTNESS_COLUMNS[:-1], "n_scans", "icc_perturbation"]
LESION_KEYS = ["patient_id", "modality", "lesion"]


def read_tables(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Result tables stacked (e.g. lesion tables); failed placeholders left out, logged."""
    tables = []
    for path in paths:
        failure = integrity.failure_of(path)
        if failure is not None:
            log.warning("%s left out: a failed placeholder (%s)", path, failure)
            continue
        tables.append(read_tsv(path, dtype={"patient_id": str, "timepoint": str, "modality": str, "feature": str}))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=[*LESION_KEYS, "timepoint"])


def retest_rows(lesions: pd.DataFrame, test: str, retest: str,
                perturbation: pd.DataFrame | None = None) -> pd.DataFrame:
    """The test-retest ICC(1,1) per feature and modality from lesion tables (``lesions_<modality>.tsv`` rows of the
    ``test`` and ``retest`` timepoints): a lesion is the same lesion on both scans when its label is (the rescan is
    contoured with the baseline's labels); lesions on one scan only are left out. ``icc_perturbation`` is the
    feature's perturbation ICC from ``perturbation`` (``robustness.tsv`` rows), NaN without it."""
    pairs = lesions[lesions["timepoint"].isin([test, retest])]
    both = pairs.groupby(LESION_KEYS)["timepoint"].transform("nunique") == 2
    parts = [robustness_rows(part.drop(columns="modality"), str(modality), repeat="timepoint",
                             subject=["patient_id", "lesion"])
             for modality, part in pairs[both].groupby("modality", sort=False)]
    if not parts:
        return pd.DataFrame(columns=RETEST_COLUMNS)
    rows = pd.concat(parts, ignore_index=True).rename(columns={"n_perturbations": "n_scans"})
    reference = pd.DataFrame(columns=["feature", "modality", "icc"]) if perturbation is None else perturbation
    reference = reference[["feature", "modality", "icc"]].rename(columns={"icc": "icc_perturbation"})
    return rows.merge(reference, on=["feature", "modality"], how="left")[RETEST_COLUMNS]


def agreement(rows: pd.DataFrame, thresholds: Sequence[float] = THRESHOLDS) -> dict[str, dict[str, float | None]]:
    """Per modality, how the test-retest ICC agrees with the perturbation ICC over the features that have both:
    Spearman's rho, the mean difference (retest - perturbation) and, per threshold, the share of features that both
    call robust or both call not robust."""
    from scipy import stats

    out = {}
    for modality, part in rows.dropna(subset=["icc", "icc_perturbation"]).groupby("modality", sort=False):
        retest, perturbed = part["icc"].to_numpy(float), part["icc_perturbation"].to_numpy(float)
        summary = {"n_features": len(part), "n_lesions": int(part["n_lesions"].max()),
                   "spearman_rho": float(stats.spearmanr(retest, perturbed).statistic) if len(part) > 2 else None,
                   "mean_difference": float(np.mean(retest - perturbed))}
        for t in thresholds:
            summary[f"same_call_at_{t}"] = float(np.mean((retest >= t) == (perturbed >= t)))
        out[str(modality)] = summary
    return out


def cohort_retest(tables: Iterable[str | Path], perturbation: str | Path, test: str, retest: str,
                  out_tsv: str | Path, out_json: str | Path) -> pd.DataFrame:
    """The retest job: lesion tables of both timepoints and ``robustness.tsv`` -> ``robustness_retest.tsv`` and the
    agreement (``agreement``) as JSON."""
    rows = retest_rows(read_tables(tables), test, retest, read_tsv(perturbation, dtype={"modality": str}))
    summary = agreement(rows)
    for modality, numbers in summary.items():
        log.info("%s test-retest vs perturbation ICC: %s", modality, numbers)
    write_tsv(rows, out_tsv)
    write_json(summary, out_json)
    return rows
