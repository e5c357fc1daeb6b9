"""``robustness.tsv`` rows and the plot of the ICC distribution per feature class.

``robustness_rows(perturbed, modality)`` turns the long table of ``perturb.perturbed_features`` (one row per lesion
and perturbation; with ``patient_id``/``timepoint`` columns when several scans are stacked) into one row per feature:
``feature, modality, feature_class, icc, icc_low, icc_high, n_lesions, n_perturbations``. The same function takes a
test-retest table (``repeat="timepoint"``, subject ``patient_id, lesion`` of matched lesions). The ICC needs no
outcome, so a robust-feature filter computed on the whole cohort cannot leak outcomes into the models.

``plot_icc(robustness, path)`` draws, per modality, the ICC of every feature by feature class (box and points) with
lines at 0.75 and 0.9 (Koo and Li, J Chiropr Med 2016: good and excellent reliability), written atomically as PNG.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from wbrad.io import atomic_path  # noqa: E402
from wbrad.lesions.diameters import AXIS_COLUMNS  # noqa: E402
from wbrad.robustness.icc import icc_table  # noqa: E402
from wbrad.robustness.perturb import PERTURBATION  # noqa: E402

ROBUSTNESS_COLUMNS = ["feature", "modality", "feature_class", "icc", "icc_low", "icc_high", "n_lesions",
                      "n_perturbations"]
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


def robustness_rows(perturbed: pd.DataFrame, modality: str, repeat: str = PERTURBATION,
                    subject: Sequence[str] | None = None, features: Sequence[str] | None = None) -> pd.DataFrame:
    """One ``robustness.tsv`` row per feature (module docstring). ``subject`` defaults to the columns of
    ``patient_id, timepoint, lesion`` present (less ``repeat``); ``features`` to ``feature_columns``."""
    subject = [c for c in SUBJECT_KEYS if c in perturbed.columns and c != repeat] if subject is None else subject
    features = feature_columns(perturbed) if features is None else list(features)
    icc = icc_table(perturbed, list(subject), repeat, features)
    return pd.DataFrame({
        "feature": icc["feature"], "modality": modality, "feature_class": icc["feature"].map(feature_class),
        "icc": icc["icc"], "icc_low": icc["icc_low"], "icc_high": icc["icc_high"],
        "n_lesions": icc["n_subjects"], "n_perturbations": icc["n_repeats"],
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


def plot_icc(robustness: pd.DataFrame, path: str | Path, thresholds: Sequence[float] = THRESHOLDS,
             suptitle: str = "Feature robustness under image perturbation") -> None:
    """Per modality, the ICC of each feature by class (box + points) with lines at ``thresholds``; PNG at ``path``."""
    modalities = list(dict.fromkeys(robustness["modality"])) or ["(none)"]
    fig, axes = plt.subplots(1, len(modalities), figsize=(6 * len(modalities), 4.5), squeeze=False)
    for ax, modality in zip(axes[0], modalities, strict=True):
        rows = robustness[robustness["modality"] == modality]
        n = int(rows["n_lesions"].max()) if len(rows) else 0
        _panel(ax, rows, f"{modality}: {len(rows)} features, {n} lesions", thresholds)
    fig.suptitle(suptitle)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
