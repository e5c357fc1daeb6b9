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
from wbrad.labelmap import centre_of_mass
from wbrad.pictures import Canvas, grey
from wbrad.tracking.lesions import to_baseline
from wbrad.tracking.register import load_transform

if TYPE_CHECKING:
    from wbrad.tracking.run import Reader

HU_WINDOW = (-400.0, 600.0)
COLUMNS = 4  # panels per row
RED, GOLD, ORANGE = (255, 0, 0), (255, 215, 0), (255, 140, 0)
STATUS_COLOURS = {"baseline": RED, "matched": RED, "new": GOLD, "merged": ORANGE, "split": ORANGE}


def lesion_plane(labels: np.ndarray) -> int:
    """The y index of the coronal plane through the lesions' median y (the middle without lesions)."""
    ys = np.nonzero(labels)[1]
    return int(np.median(ys)) if ys.size else labels.shape[1] // 2


def coronal(ct: np.ndarray, labels: np.ndarray, y: int) -> tuple[np.ndarray, np.ndarray]:
    """[z, x] views, new arrays (the inputs may be views of images freed after): the CT slice at ``y`` and the lesion
    labels projected along y (front to back)."""
    return np.array(ct[:, y, :]), labels.max(axis=1)


def _ids(tracks: pd.DataFrame, timepoint: str) -> dict[int, tuple[str, str]]:
    """Lesion label -> (track ids text, status) at ``timepoint``."""
    rows = tracks[(tracks["timepoint"] == timepoint) & tracks["lesion"].notna()]
    return {int(lesion): ("/".join(str(t) for t in group["track"]), str(group["status"].iloc[0]))
            for lesion, group in rows.groupby("lesion")}


def _panel(canvas: Canvas, index: int, view: np.ndarray, projected: np.ndarray, names: dict[int, tuple[str, str]],
           spacing: tuple, title: str) -> None:
    sx, _, sz = spacing
    panel = canvas.panel(index, grey(view, HU_WINDOW), (sz, sx), title, lower=True, title_chars=60)
    for k in [k for k in np.setdiff1d(np.unique(projected), [0]) if int(k) in names]:
        z, x = centre_of_mass(projected == k)
        text, status = names[int(k)]
        colour = STATUS_COLOURS.get(status, RED)
        canvas.outline(panel, projected == k, colour)
        top = np.nonzero((projected == k).any(axis=1))[0].max()  # the lesion's highest row: the id above it
        canvas.text(panel, top + 6 / sz, x, text, colour, anchor="mb")


def draw_tracking(cts: dict[str, Path], maps: dict[str, Path], transforms: dict[str, Path], tracks: pd.DataFrame,
                  out_png: Path, read: Reader = read_image) -> None:
    """Write one patient's picture: first the baseline (the first of ``cts``, timepoint -> CT, in date order) with its
    track ids, then each follow-up resampled onto the baseline grid (the same coronal plane) with the ids its lesions
    were given (gold: new; orange: merged or split; disappeared tracks listed in its title), at most ``COLUMNS``
    panels a row. ``maps``: the lesion maps, ``transforms``: the follow-ups' registrations, ``tracks``: the patient's
    ``tracks.tsv`` table, ``read``: the reader of lesion maps (``track_job``'s reads each once; the CTs are read
    here, coronal views kept)."""
    baseline, *followups = cts
    base, base_labels = read_image(cts[baseline]), read(maps[baseline])
    patient = str(tracks["patient_id"].iloc[0]) if len(tracks) else ""
    y = lesion_plane(sitk.GetArrayViewFromImage(base_labels))  # one plane for every panel: all on one grid
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
    canvas = Canvas(400 * columns, rows * round(400 * nz * sz / (nx * sx) + 60), columns, rows, title_px=11)
    for index, (view, projected, timepoint, title) in enumerate(panels):
        _panel(canvas, index, view, projected, _ids(tracks, timepoint), base.GetSpacing(), title)
    canvas.save(out_png)
