"""A coronal maximum-intensity projection of the PET with the detected lesions and the excluded organs outlined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from wbrad.burden.maps import MARGIN, ORGAN
from wbrad.image import read_image
from wbrad.io import read_tsv
from wbrad.labelmap import centre_of_mass
from wbrad.pictures import Canvas, grey

SUV_RANGE = (0.0, 10.0)  # displayed SUV, black at 10
COLOURS = {"lesion": (255, 0, 0), "organ": (31, 119, 180), "margin": (23, 190, 207)}  # matplotlib red, tab:blue, cyan


def projections(suv: np.ndarray, labels: np.ndarray, excluded: np.ndarray) -> dict[str, np.ndarray]:
    """Coronal [z, x] projections along y (front to back): the SUV's maximum, where lesions, organs and margins lie."""
    return {"suv": suv.max(axis=1), "lesion": (labels > 0).any(axis=1), "organ": (excluded == ORGAN).any(axis=1),
            "margin": (excluded == MARGIN).any(axis=1), "labels": labels.max(axis=1)}


def _title(row: pd.Series, tag: str) -> str:
    if pd.isna(row["tmtv_ml"]):
        return f"{tag}: {row['reason']}"
    n = int(row["lesion_count"])
    if n == 0:
        return f"{tag}: no lesion (SUV >= {row['threshold_suv']:.2f}, {row['threshold_rule']})"
    return (f"{tag}: TMTV {row['tmtv_ml']:.1f} ml, TLG {row['tlg']:.0f}, {n} lesion{'s' * (n > 1)}, "
            f"SUVmax {row['suvmax']:.1f}, Dmax {row['dmax_mm']:.0f} mm")


def draw_mip(pet: Path, labels: Path, excluded: Path, table: Path, tag: str, out_png: Path) -> None:
    """:func:`plot_mip` of a burden job's written results."""
    arrays = [sitk.GetArrayFromImage(read_image(p, tag)) for p in (labels, excluded)]
    plot_mip(read_image(pet, tag), *arrays, read_tsv(table).iloc[0], tag, out_png)


def plot_mip(image: sitk.Image, labels: np.ndarray, excluded: np.ndarray, row: pd.Series, tag: str,
             out_png: Path) -> None:
    """Write the coronal MIP of the SUV ``image`` (0-10, inverted grey, in mm) with lesion outlines and numbers (red),
    the excluded organs (blue) and their margins (cyan) of the label and excluded-voxel maps on its grid; the title
    holds the scan's burden ``row``."""
    views = projections(sitk.GetArrayFromImage(image), labels, excluded)
    sx, _, sz = image.GetSpacing()
    nz, nx = views["suv"].shape
    canvas = Canvas(500, round(500 * nz * sz / (nx * sx) + 40), title_px=10)
    panel = canvas.panel(0, grey(views["suv"], SUV_RANGE, invert=True), (sz, sx), _title(row, tag), lower=True,
                         title_chars=90)
    for key, colour in COLOURS.items():
        if views[key].any():
            canvas.outline(panel, views[key], colour, dashed=key == "margin")
    for k in np.setdiff1d(np.unique(views["labels"]), [0]):
        z, x = centre_of_mass(views["labels"] == k)
        canvas.text(panel, z, x, str(k), COLOURS["lesion"], size_px=8)
    canvas.save(out_png)
