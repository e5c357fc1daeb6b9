"""QC picture: the L3 slice with tissue overlays beside a coronal view of the spine with vertebra labels."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wbrad.bodycomp.masks import Scan  # noqa: E402
from wbrad.io import atomic_path  # noqa: E402
from wbrad.segmentation import VERTEBRA, level  # noqa: E402

WINDOW = (-200, 300)
COLOURS = {"muscle": (1.0, 0.0, 0.0), "vat": (1.0, 1.0, 0.0), "sat": (0.0, 1.0, 1.0), "imat": (1.0, 0.0, 1.0)}
ALPHA = 0.45
TITLE_CHARS = 70  # the axial panel's title at 9 pt; a longer one (a failed QC lists its reasons) is wrapped smaller


def overlay(tissues: dict[str, np.ndarray], z: int) -> np.ndarray:
    """RGBA image of the tissue masks on slice ``z``."""
    shape = next(iter(tissues.values()))[z].shape if tissues else (1, 1)
    rgba = np.zeros((*shape, 4))
    for key, mask in tissues.items():
        rgba[mask[z]] = (*COLOURS[key], ALPHA)
    return rgba


def vertebrae(scan: Scan) -> dict[str, np.ndarray]:
    return {level(name): m for name, m in scan.masks.items() if name.startswith(VERTEBRA) and m.any()}


def label_vertebrae(cor: plt.Axes, bones: dict[str, np.ndarray], spacing: tuple[float, float, float]) -> None:
    """Name each vertebra beside it, alternating right and left from head to feet so neighbours never overlap."""
    sx, _, sz = spacing
    placed = sorted(((np.nonzero(m), label) for label, m in bones.items()), key=lambda item: -item[0][0].mean())
    for k, ((zs, _, xs), label) in enumerate(placed):
        right = k % 2 == 0
        x = (xs.max() + 3) * sx if right else (xs.min() - 3) * sx
        cor.text(x, (zs.mean() + 0.5) * sz, label, color="yellow", fontsize=7, va="center",
                 ha="left" if right else "right")


def plot(scan: Scan, tissues: dict[str, np.ndarray], l3_slice: int | None, title: str, path: Path) -> None:
    """Write an 800x400 PNG: axial L3 slice (mid-volume if no L3) and coronal spine view, both in mm."""
    nz, ny, nx = scan.ct.shape
    sx, sy, sz = scan.spacing
    z = l3_slice if l3_slice is not None else nz // 2
    fig, (ax, cor) = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    ax.imshow(scan.ct[z], cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], extent=(0, nx * sx, ny * sy, 0))
    ax.imshow(overlay(tissues, z), extent=(0, nx * sx, ny * sy, 0))
    short_title = len(title) <= TITLE_CHARS
    ax.set_title(title if short_title else textwrap.fill(title, TITLE_CHARS + 10), fontsize=9 if short_title else 6.5)

    bones = vertebrae(scan)
    spine = np.any(list(bones.values()), axis=0) if bones else None
    y = int(np.median(np.nonzero(spine)[1])) if spine is not None else ny // 2
    cor.imshow(scan.ct[:, y, :], cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], origin="lower",
               extent=(0, nx * sx, 0, nz * sz))
    label_vertebrae(cor, bones, scan.spacing)
    if l3_slice is not None:
        cor.axhline((l3_slice + 0.5) * sz, color="red", linewidth=0.8)
    cor.set_title(f"coronal y={y}", fontsize=9)
    for a in (ax, cor):
        a.set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
