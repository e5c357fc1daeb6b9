"""QC picture: the L3 slice with tissue overlays beside a coronal view of the spine with vertebra labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wbrad.bodycomp.masks import Scan
from wbrad.pictures import Canvas, grey, tint
from wbrad.segmentation import VERTEBRA, level

WINDOW = (-200, 300)
COLOURS = {"muscle": (255, 0, 0), "vat": (255, 255, 0), "sat": (0, 255, 255), "imat": (255, 0, 255)}
ALPHA = 0.45
TITLE_CHARS = 70  # the axial title at full size; a longer one (a failed QC lists its reasons) is wrapped smaller
YELLOW, RED = (255, 255, 0), (255, 0, 0)


def overlay(ct_slice: np.ndarray, tissues: dict[str, np.ndarray], z: int) -> np.ndarray:
    """RGB of the CT slice with the tissue masks of slice ``z`` tinted over it."""
    rgb = grey(ct_slice, WINDOW)
    for key, mask in tissues.items():
        rgb = tint(rgb, mask[z], COLOURS[key], ALPHA)
    return rgb


def vertebrae(scan: Scan) -> dict[str, np.ndarray]:
    return {level(name): m for name, m in scan.masks.items() if name.startswith(VERTEBRA) and m.any()}


def plot(scan: Scan, tissues: dict[str, np.ndarray], l3_slice: int | None, title: str, path: Path) -> None:
    """Write an 800x400 PNG: axial L3 slice (mid-volume if no L3) with the tissues tinted, and the coronal spine view
    with each vertebra named beside it (alternating right and left from head to feet so neighbours never overlap)
    and the L3 slice marked, both at their millimetre aspect."""
    nz, ny, _ = scan.ct.shape
    sx, sy, sz = scan.spacing
    z = l3_slice if l3_slice is not None else nz // 2
    canvas = Canvas(800, 400, columns=2)
    canvas.panel(0, overlay(scan.ct[z], tissues, z), (sy, sx), title, title_chars=TITLE_CHARS)

    bones = vertebrae(scan)
    spine = np.any(list(bones.values()), axis=0) if bones else None
    y = int(np.median(np.nonzero(spine)[1])) if spine is not None else ny // 2
    cor = canvas.panel(1, grey(scan.ct[:, y, :], WINDOW), (sz, sx), f"coronal y={y}", lower=True)
    placed = sorted(((np.nonzero(m), label) for label, m in bones.items()), key=lambda item: -item[0][0].mean())
    for k, ((zs, _, xs), label) in enumerate(placed):
        right = k % 2 == 0
        canvas.text(cor, zs.mean(), xs.max() + 3 if right else xs.min() - 3, label, YELLOW,
                    anchor="lm" if right else "rm")
    if l3_slice is not None:
        canvas.hline(cor, l3_slice, scan.ct.shape[2], RED)
    canvas.save(path)
