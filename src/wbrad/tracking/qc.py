"""The tracking QC picture: baseline CT and the follow-up registered onto it, coronal, with every lesion's outline and
track id, so a reader sees at a glance whether the registration holds and each lesion kept its track."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from wbrad.image import read_image
from wbrad.io import atomic_path, read_tsv
from wbrad.tracking.lesions import to_baseline
from wbrad.tracking.register import load_transform

HU_WINDOW = (-400.0, 600.0)
STATUS_COLOURS = {"baseline": "red", "matched": "red", "new": "gold", "merged": "darkorange", "split": "darkorange"}


def coronal(ct: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[z, x] views: the CT slice through the lesions' mean y (the middle without lesions), and the lesion labels
    projected along y (front to back)."""
    ys = np.nonzero(labels)[1]
    y = int(np.median(ys)) if ys.size else ct.shape[1] // 2
    return ct[:, y, :], labels.max(axis=1)


def _ids(tracks: pd.DataFrame, timepoint: str) -> dict[int, tuple[str, str]]:
    """Lesion label -> (track ids text, status) at ``timepoint``."""
    rows = tracks[(tracks["timepoint"] == timepoint) & tracks["lesion"].notna()]
    return {int(lesion): ("/".join(str(t) for t in group["track"]), str(group["status"].iloc[0]))
            for lesion, group in rows.groupby("lesion")}


def _panel(ax, ct: np.ndarray, labels: np.ndarray, names: dict[int, tuple[str, str]], spacing: tuple, title: str):
    sx, _, sz = spacing
    view, projected = coronal(ct, labels)
    extent = (0, view.shape[1] * sx, 0, view.shape[0] * sz)
    ax.imshow(view, cmap="gray", vmin=HU_WINDOW[0], vmax=HU_WINDOW[1], origin="lower", extent=extent)
    ids = [k for k in np.setdiff1d(np.unique(projected), [0]) if int(k) in names]
    for k, (z, x) in zip(ids, ndimage.center_of_mass(projected > 0, projected, ids), strict=True):
        text, status = names[int(k)]
        colour = STATUS_COLOURS.get(status, "red")
        ax.contour((projected == k).astype(float), levels=[0.5], colors=colour, linewidths=0.7, origin="lower",
                   extent=extent)
        ax.text((x + 0.5) * sx, (z + 0.5) * sz + 12, text, color=colour, fontsize=7, ha="center", va="bottom")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def draw_tracking(baseline_ct: Path, baseline_lesions: Path, followup_ct: Path, followup_lesions: Path,
                  transform: Path, tracks: Path, baseline: str, timepoint: str, out_png: Path) -> None:
    """Write the picture: left the baseline with its track ids, right the follow-up resampled onto the baseline grid
    with the ids its lesions were given (gold: new; orange: merged or split); disappeared tracks are listed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base, base_labels = read_image(baseline_ct), read_image(baseline_lesions)
    t = load_transform(transform)
    moved = sitk.Resample(read_image(followup_ct), base, t, sitk.sitkLinear, -1024.0)
    moved_labels = to_baseline(read_image(followup_lesions), base_labels, t)
    table = read_tsv(tracks, dtype={"patient_id": str, "timepoint": str})
    gone = sorted(table.loc[(table["timepoint"] == timepoint) & (table["status"] == "disappeared"), "track"])
    patient = str(table["patient_id"].iloc[0])
    arrays = [sitk.GetArrayFromImage(i) for i in (base, base_labels, moved, moved_labels)]
    nz, _, nx = arrays[0].shape
    sx, _, sz = base.GetSpacing()
    fig, axes = plt.subplots(1, 2, figsize=(8, 4 * nz * sz / (nx * sx) + 0.6), dpi=100)
    _panel(axes[0], arrays[0], arrays[1], _ids(table, baseline), base.GetSpacing(), f"{patient} {baseline}")
    _panel(axes[1], arrays[2], arrays[3], _ids(table, timepoint), base.GetSpacing(),
           f"{patient} {timepoint} registered" + (f"; disappeared: {', '.join(map(str, gone))}" if gone else ""))
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
