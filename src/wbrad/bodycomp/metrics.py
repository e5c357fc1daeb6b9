"""Body composition numbers from a Scan: tissue areas at L3, L1-L5 volumes, organ volumes and densities."""

from __future__ import annotations

import numpy as np

from wbrad.bodycomp.masks import Scan

MUSCLE_HU = (-29, 150)
FAT_HU = (-190, -30)
TISSUES = {  # metric prefix: (mask, HU window)
    "muscle": ("tissue_types/skeletal_muscle", MUSCLE_HU),
    "vat": ("tissue_types/torso_fat", FAT_HU),
    "sat": ("tissue_types/subcutaneous_fat", FAT_HU),
}
ORGANS = {"liver": "total/liver", "spleen": "total/spleen"}


def mean_hu(ct: np.ndarray, mask: np.ndarray) -> float:
    """Mean HU inside ``mask``; NaN for an empty mask."""
    return float(ct[mask].mean(dtype=np.float64)) if mask.any() else float("nan")


def class_statistics(scan: Scan) -> dict[str, dict[str, float]]:
    """Per mask: ``volume`` (voxel count x voxel volume, mm3) and ``intensity`` (mean HU), as TotalSegmentator."""
    return {name: {"volume": float(np.count_nonzero(m)) * scan.voxel_mm3, "intensity": mean_hu(scan.ct, m)}
            for name, m in scan.masks.items()}


def tissue_masks(scan: Scan) -> dict[str, np.ndarray]:
    """Muscle, VAT and SAT: each segmentation mask restricted to its HU window (absent masks are left out)."""
    return {key: scan.masks[name] & (scan.ct >= lo) & (scan.ct <= hi)
            for key, (name, (lo, hi)) in TISSUES.items() if name in scan.masks}


def l3_metrics(scan: Scan, tissues: dict[str, np.ndarray], z: int, height_cm: float | None) -> dict[str, float]:
    """Areas (cm2) of muscle, VAT and SAT on slice ``z``, muscle mean HU and SMI (NaN without a height)."""
    area = {key: np.count_nonzero(m[z]) * scan.pixel_mm2 / 100 for key, m in tissues.items()}
    sma = area["muscle"]
    return {"l3_sma_cm2": sma,
            "l3_smi_cm2m2": sma / (height_cm / 100) ** 2 if height_cm else float("nan"),
            "l3_muscle_hu": mean_hu(scan.ct[z], tissues["muscle"][z]),
            "l3_vat_cm2": area["vat"], "l3_sat_cm2": area["sat"]}


def l1l5_metrics(scan: Scan, tissues: dict[str, np.ndarray], z_range: tuple[int, int]) -> dict[str, float]:
    """Tissue volumes (ml) over the inclusive slice range ``z_range``."""
    lo, hi = z_range
    return {f"l1l5_{key}_ml": np.count_nonzero(m[lo:hi + 1]) * scan.voxel_mm3 / 1000 for key, m in tissues.items()}


def organ_metrics(scan: Scan) -> tuple[dict[str, float], list[str]]:
    """Liver volume and mean HU, spleen volume; NaN and a note for an absent or empty organ mask."""
    values, notes = {}, []
    for organ, name in ORGANS.items():
        mask = scan.masks.get(name)
        if mask is None or not mask.any():
            notes.append(f"{organ} {'missing' if mask is None else 'empty'}")
            values[f"{organ}_ml"] = float("nan")
        else:
            values[f"{organ}_ml"] = np.count_nonzero(mask) * scan.voxel_mm3 / 1000
    liver = scan.masks.get(ORGANS["liver"])
    values["liver_hu"] = mean_hu(scan.ct, liver) if liver is not None else float("nan")
    return values, notes
