"""The tracking QC picture of one patient (drawn by the track job): the baseline CT and every follow-up registered onto
it, coronal, with every lesion's outline and track id, so a reader sees at a glance whether the registration holds and
each lesion kept its track."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import SimpleITK as sitk

from wbrad.image import read_image
from wbrad.io import atomic_path
from wbrad.labelmap import centre_of_mass
from wbrad.tracking.lesions import to_baseline
from wbrad.tracking.register import load_transform

if TYPE_CHECKING:
    from collections.abc import Callable

    Reader = Callable[[Path], sitk.Image]

HU_WINDOW = (-400.0, 600.0)
COLUMNS = 4  # panels per row
STATUS_COLOURS = {"baseline": "red", "matched": "red", "new": "gold", "merged": "darkorange", "split": "darkorange"}


def coronal(ct: np.ndarray, labels: np.ndarray, y: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """[z, x] views, new arrays (the inputs may be views of images freed after): the CT slice at ``y`` (by default
    through the lesions' median y, the middle without lesions), and the lesion labels projected along y (front to
    back)."""
    if y is None:
        ys = np.nonzero(labels)[1]
        y = int(np.median(ys)) if ys.size else ct.shape[1] // 2
    return np.array(ct[:, y, :]), labels.max(axis=1)


def _ids(tracks: pd.DataFrame, timepoint: str) -> dict[int, tuple[str, str]]:
    """Lesion label -> (track ids text, status) at ``timepoint``."""
    rows = tracks[(tracks["timepoint"] == timepoint) & tracks["lesion"].notna()]
    return {int(lesion): ("/".join(str(t) for t in group["track"]), str(group["status"].iloc[0]))
            for lesion, group in rows.groupby("lesion")}


def _panel(ax, view: np.ndarray, projected: np.ndarray, names: dict[int, tuple[str, str]], spacing: tuple,
           title: str) -> None:
    sx, _, sz = spacing
    extent = (0, view.shape[1] * sx, 0, view.shape[0] * sz)
    ax.imshow(view, cmap="gray", vmin=HU_WINDOW[0], vmax=HU_WINDOW[1], origin="lower", extent=extent)
    ids = [k for k in np.setdiff1d(np.unique(projected), [0]) if int(k) in names]
    for k in ids:
        z, x = centre_of_mass(projected == k)
        text, status = names[int(k)]
        colour = STATUS_COLOURS.get(status, "red")
        ax.contour((projected == k).astype(float), levels=[0.5], colors=colour, linewidths=0.7, origin="lower",
                   extent=extent)
        ax.text((x + 0.5) * sx, (z + 0.5) * sz + 12, text, color=colour, fontsize=7, ha="center", va="bottom")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def draw_tracking(cts: dict[str, Path], maps: dict[str, Path], transforms: dict[str, Path], tracks: pd.DataFrame,
                  out_png: Path, read: Reader = read_image) -> None:
    """Write one patient's picture: first the baseline (the first of ``cts``, timepoint -> CT, in date order) with its
    track ids, then each follow-up resampled onto the baseline grid (the same coronal plane) with the ids its lesions
    were given (gold: new; orange: merged or split; disappeared tracks listed in its title), at most ``COLUMNS``
    panels a row. ``maps``: the lesion maps, ``transforms``: the follow-ups' registrations, ``tracks``: the patient's
    ``tracks.tsv`` table, ``read``: the reader of lesion maps (``track_job``'s reads each once; the CTs are read
    here, coronal views kept)."""
    from matplotlib.figure import Figure  # no pyplot: the picture needs no GUI backend

    baseline, *followups = cts
    base, base_labels = read_image(cts[baseline]), read(maps[baseline])
    patient = str(tracks["patient_id"].iloc[0]) if len(tracks) else ""
    ys = np.nonzero(sitk.GetArrayViewFromImage(base_labels))[1]
    y = int(np.median(ys)) if ys.size else base.GetSize()[1] // 2  # one plane for every panel: all on one grid
    panels = [(*coronal(sitk.GetArrayViewFromImage(base), sitk.GetArrayViewFromImage(base_labels), y), baseline,
               f"{patient} {baseline}")]
    for timepoint in followups:
        t = load_transform(transforms[timepoint])
        moved = sitk.Resample(read_image(cts[timepoint]), base, t, sitk.sitkLinear, -1024.0)
        gone = sorted(tracks.loc[(tracks["timepoint"] == timepoint) & (tracks["status"] == "disappeared"), "track"])
        title = f"{patient} {timepoint} registered" + (f"; disappeared: {', '.join(map(str, gone))}" if gone else "")
        moved_labels = to_baseline(read(maps[timepoint]), base_labels, t)
        panels.append((*coronal(sitk.GetArrayViewFromImage(moved), sitk.GetArrayViewFromImage(moved_labels), y),
                       timepoint, title))
    nz, nx = panels[0][0].shape
    sx, _, sz = base.GetSpacing()
    columns = min(len(panels), COLUMNS)
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(4 * columns, rows * (4 * nz * sz / (nx * sx) + 0.6)), dpi=100)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (view, projected, timepoint, title) in zip(axes, panels, strict=False):
        _panel(ax, view, projected, _ids(tracks, timepoint), base.GetSpacing(), title)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
