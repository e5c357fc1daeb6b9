"""A coronal maximum-intensity projection of the PET with the detected lesions and the excluded organs outlined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from wbrad.burden.maps import MARGIN, ORGAN
from wbrad.image import read_image
from wbrad.io import atomic_path, read_tsv

SUV_RANGE = (0.0, 10.0)  # displayed SUV, black at 10
COLOURS = {"lesion": "red", "organ": "tab:blue", "margin": "tab:cyan"}


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = projections(sitk.GetArrayFromImage(image), labels, excluded)
    sx, _, sz = image.GetSpacing()
    nz, nx = views["suv"].shape
    extent = (0, nx * sx, 0, nz * sz)
    fig, ax = plt.subplots(figsize=(5, 5 * nz * sz / (nx * sx) + 0.4), dpi=100)
    ax.imshow(views["suv"], cmap="gray_r", vmin=SUV_RANGE[0], vmax=SUV_RANGE[1], origin="lower", extent=extent)
    for key, colour in COLOURS.items():
        if views[key].any():
            ax.contour(views[key].astype(float), levels=[0.5], colors=colour, linewidths=0.8, origin="lower",
                       extent=extent, linestyles="dashed" if key == "margin" else "solid")
    ids = np.setdiff1d(np.unique(views["labels"]), [0])
    for k, (z, x) in zip(ids, ndimage.center_of_mass(views["labels"] > 0, views["labels"], ids), strict=True):
        ax.text((x + 0.5) * sx, (z + 0.5) * sz, str(k), color=COLOURS["lesion"], fontsize=6, ha="center", va="center")
    ax.set_title(_title(row, tag), fontsize=7)
    ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
