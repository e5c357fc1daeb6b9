"""Kaplan-Meier curves of out-of-fold risk groups, one panel per feature set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
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


def km_plot(panels: list[KMPanel], path: Path, n_groups: int = 2, suptitle: str = "", xlabel: str = "time") -> None:
    """One Kaplan-Meier panel per entry of ``panels``, risk groups from quantiles of the risk; written atomically."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        plot_panel(ax, panel, n_groups, xlabel)
    fig.suptitle(suptitle)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
