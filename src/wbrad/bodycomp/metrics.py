"""Body composition numbers from a Scan: tissue areas at L3, L1-L5 and trunk volumes, organs and L1 bone density."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from wbrad.bodycomp.masks import Scan
from wbrad.segmentation import INTERMUSCULAR_FAT, L1, LIVER, SKELETAL_MUSCLE, SPLEEN, SUBCUTANEOUS_FAT, TORSO_FAT, short

MUSCLE_HU = (-29, 150)
LOW_ATTENUATION_HU = (-29, 29)  # low-attenuation muscle, part of the muscle window
FAT_HU = (-190, -30)
TISSUES = {"muscle": (SKELETAL_MUSCLE, MUSCLE_HU), "vat": (TORSO_FAT, FAT_HU), "sat": (SUBCUTANEOUS_FAT, FAT_HU)}
ORGANS = {"liver": LIVER, "spleen": SPLEEN}  # metric prefix: mask
CORTEX_MM = 3.0  # eroded from vertebrae_L1 to keep its trabecular bone


def mean_hu(ct: np.ndarray, mask: np.ndarray) -> float:
    """Mean HU inside ``mask``; NaN for an empty mask."""
    return float(ct[mask].mean(dtype=np.float64)) if mask.any() else float("nan")


def in_window(ct: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    return (ct >= window[0]) & (ct <= window[1])


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def class_statistics(scan: Scan) -> dict[str, dict[str, float]]:
    """Per mask: ``volume`` (voxel count x voxel volume, mm3) and ``intensity`` (mean HU), as TotalSegmentator."""
    return {name: {"volume": float(np.count_nonzero(m)) * scan.voxel_mm3, "intensity": mean_hu(scan.ct, m)}
            for name, m in scan.masks.items()}


def tissue_masks(scan: Scan) -> dict[str, np.ndarray]:
    """Muscle, VAT and SAT (each mask within its HU window) and intermuscular fat (``imat``: tissue_4_types' where
    present, else fat HU inside the muscle mask); absent ones left out."""
    tissues = {key: scan.masks[name] & in_window(scan.ct, window)
               for key, (name, window) in TISSUES.items() if name in scan.masks}
    if INTERMUSCULAR_FAT in scan.masks:
        tissues["imat"] = scan.masks[INTERMUSCULAR_FAT] & in_window(scan.ct, FAT_HU)
    elif SKELETAL_MUSCLE in scan.masks:
        tissues["imat"] = scan.masks[SKELETAL_MUSCLE] & in_window(scan.ct, FAT_HU)
    return tissues


def slab_metrics(scan: Scan, tissues: dict[str, np.ndarray], z_range: tuple[int, int],
                 height_cm: float | None) -> dict[str, float]:
    """Per-slice mean areas (cm2) over the inclusive slices ``z_range``, SMI (NaN without a height), muscle mean HU
    and low-attenuation fraction over all its voxels there, and the VAT/SAT ratio."""
    lo, hi = z_range
    slab = {key: m[lo:hi + 1] for key, m in tissues.items()}
    area = {key: np.count_nonzero(m) * scan.pixel_mm2 / 100 / (hi - lo + 1) for key, m in slab.items()}
    ct, muscle = scan.ct[lo:hi + 1], slab["muscle"]
    return {"sma_cm2": area["muscle"],
            "smi_cm2m2": area["muscle"] / (height_cm / 100) ** 2 if height_cm else float("nan"),
            "muscle_hu": mean_hu(ct, muscle),
            "lama_fraction": ratio(np.count_nonzero(muscle & in_window(ct, LOW_ATTENUATION_HU)),
                                   np.count_nonzero(muscle)),
            "imat_cm2": area["imat"], "vat_cm2": area["vat"], "sat_cm2": area["sat"],
            "vat_sat_ratio": ratio(area["vat"], area["sat"])}


def l3_metrics(scan: Scan, tissues: dict[str, np.ndarray], z: int, l3: tuple[int, int],
               height_cm: float | None) -> dict[str, float]:
    """``l3_*`` on the L3 middle slice ``z``, ``l3avg_*`` averaged over the slices ``l3`` of the L3 vertebra."""
    middle = slab_metrics(scan, tissues, (z, z), height_cm)
    body = slab_metrics(scan, tissues, l3, height_cm)
    return {f"l3_{k}": v for k, v in middle.items()} | {f"l3avg_{k}": v for k, v in body.items()}


def volume_metrics(scan: Scan, tissues: dict[str, np.ndarray], z_range: tuple[int, int]) -> dict[str, float]:
    """Tissue volumes (ml) over the inclusive slices ``z_range`` (``l1l5_*``) and over the whole scan (``trunk_*``)."""
    lo, hi = z_range
    ml = scan.voxel_mm3 / 1000
    return ({f"l1l5_{key}_ml": np.count_nonzero(m[lo:hi + 1]) * ml for key, m in tissues.items()}
            | {f"trunk_{key}_ml": np.count_nonzero(m) * ml for key, m in tissues.items()})


def organ_metrics(scan: Scan) -> tuple[dict[str, float], list[str]]:
    """Liver and spleen volume and mean HU; NaN and a note for an absent or empty organ mask."""
    values, notes = {}, []
    for organ, name in ORGANS.items():
        mask = scan.masks.get(name)
        if mask is None or not mask.any():
            notes.append(f"{organ} {'missing' if mask is None else 'empty'}")
            values[f"{organ}_ml"] = values[f"{organ}_hu"] = float("nan")
        else:
            values[f"{organ}_ml"] = np.count_nonzero(mask) * scan.voxel_mm3 / 1000
            values[f"{organ}_hu"] = mean_hu(scan.ct, mask)
    return values, notes


def trabecular(mask: np.ndarray, spacing: tuple[float, float, float], depth_mm: float = CORTEX_MM) -> np.ndarray:
    """The vertebra eroded by ``depth_mm`` (an ellipsoid in voxels), largest piece kept: the body's trabecular
    bone, without the cortex and the thin posterior elements."""
    radius = [depth_mm / s for s in spacing[::-1]]  # z, y, x
    grid = np.ogrid[tuple(slice(-int(r), int(r) + 1) for r in radius)]
    ball = sum((g / r) ** 2 for g, r in zip(grid, radius, strict=True)) <= 1
    core = ndimage.binary_erosion(mask, structure=ball)
    labels, n = ndimage.label(core)
    if n <= 1:
        return core
    return labels == 1 + int(np.argmax(ndimage.sum_labels(core, labels, range(1, n + 1))))


def bone_metrics(scan: Scan) -> tuple[dict[str, float], list[str]]:
    """L1 trabecular bone density (mean HU of the eroded vertebrae_L1); NaN and a note when it cannot be had."""
    mask = scan.masks.get(L1)
    core = trabecular(mask, scan.spacing) if mask is not None else None
    if core is None or not core.any():
        absent = mask is None or not mask.any()  # TotalSegmentator writes empty masks for classes not found
        return {"l1_bone_hu": float("nan")}, [f"{short(L1)} {'missing' if absent else 'too small'} for bone density"]
    return {"l1_bone_hu": mean_hu(scan.ct, core)}, []
