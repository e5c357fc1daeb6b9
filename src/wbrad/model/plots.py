"""Plots of out-of-fold predictions: Kaplan-Meier risk groups, time-dependent AUC, calibration, ROC."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402
from sksurv.compare import compare_survival  # noqa: E402
from sksurv.nonparametric import kaplan_meier_estimator  # noqa: E402

from wbrad.io import atomic_path  # noqa: E402


@dataclass
class KMPanel:
    title: str
    y: np.ndarray
    risk: np.ndarray
    cindex: float


def risk_groups(risk: np.ndarray, n_groups: int = 2) -> np.ndarray:
    """Group index 0 (lowest risk) .. n_groups-1 by quantiles of ``risk`` (2 groups: split at the median)."""
    cuts = np.quantile(risk, np.linspace(0, 1, n_groups + 1)[1:-1])
    return np.searchsorted(cuts, risk, side="right")


def logrank_p(y: np.ndarray, groups: np.ndarray) -> float:
    """Log-rank p-value across groups; NaN with fewer than two groups."""
    if len(np.unique(groups)) < 2:
        return float("nan")
    return float(compare_survival(y, groups)[1])


def plot_panel(ax: plt.Axes, panel: KMPanel, n_groups: int, xlabel: str) -> None:
    groups = risk_groups(panel.risk, n_groups)
    names = ["low risk", "high risk"] if n_groups == 2 else [f"risk group {g + 1}" for g in range(n_groups)]
    for g in np.unique(groups):
        y = panel.y[groups == g]
        time, surv, (lo, hi) = kaplan_meier_estimator(y["event"], y["time"], conf_type="log-log")
        time, surv, lo, hi = np.r_[0, time], np.r_[1, surv], np.r_[1, lo], np.r_[1, hi]  # start at S(0) = 1
        line, = ax.step(time, surv, where="post", label=f"{names[g]} (n={len(y)}, events={y['event'].sum()})")
        ax.fill_between(time, lo, hi, step="post", alpha=0.2, color=line.get_color())
    ax.set(title=f"{panel.title}\nC = {panel.cindex:.3f}, log-rank p = {logrank_p(panel.y, groups):.3g}",
           xlabel=xlabel, ylabel="survival probability", ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize="small")


def _save(fig: plt.Figure, path: Path, suptitle: str) -> None:
    fig.suptitle(suptitle)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def km_plot(panels: list[KMPanel], path: Path, n_groups: int = 2, suptitle: str = "", xlabel: str = "time") -> None:
    """One Kaplan-Meier panel per entry of ``panels``, risk groups from quantiles of the risk; written atomically."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        plot_panel(ax, panel, n_groups, xlabel)
    _save(fig, path, suptitle)


def tdauc_plot(tdauc: pd.DataFrame, path: Path, suptitle: str = "", xlabel: str = "horizon") -> None:
    """Cross-validated cumulative/dynamic AUC against the horizon, one line per feature set and model
    (``tdauc``: feature_set, model, horizon, auc, auc_sd), +/- one SD across folds."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for (feature_set, model), rows in tdauc.groupby(["feature_set", "model"], sort=False):
        line, = ax.plot(rows["horizon"], rows["auc"], marker="o", label=f"{feature_set} ({model})")
        ax.fill_between(rows["horizon"], rows["auc"] - rows["auc_sd"], rows["auc"] + rows["auc_sd"], alpha=0.1,
                        color=line.get_color())
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set(xlabel=xlabel, ylabel="time-dependent AUC (out of fold)", ylim=(0.3, 1.0))
    ax.legend(fontsize="small")
    _save(fig, path, suptitle)


def calibration_plot(calibration: pd.DataFrame, path: Path, suptitle: str = "") -> None:
    """Observed (Kaplan-Meier) against predicted survival per risk group, one panel per horizon, one line per
    feature set and model (``calibration``: feature_set, model, horizon, predicted, observed, and ``ici``)."""
    horizons = calibration["horizon"].unique()
    fig, axes = plt.subplots(1, len(horizons), figsize=(4.5 * len(horizons), 4.5), squeeze=False)
    for ax, h in zip(axes[0], horizons, strict=True):
        for (feature_set, model), rows in calibration[calibration["horizon"] == h].groupby(
                ["feature_set", "model"], sort=False):
            ax.plot(rows["predicted"], rows["observed"], marker="o",
                    label=f"{feature_set} ({model}), ICI {rows['ici'].iloc[0]:.3f}")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set(title=f"horizon {h:g}", xlabel="predicted survival", ylabel="observed (Kaplan-Meier)",
               xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize="x-small")
    _save(fig, path, suptitle)


def roc_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, suptitle: str = "") -> None:
    """ROC curves of out-of-fold probabilities, ``curves``: label -> (y, probability)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, (y, prob) in curves.items():
        fpr, tpr, _ = roc_curve(y, prob)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity")
    ax.legend(fontsize="small")
    _save(fig, path, suptitle)
