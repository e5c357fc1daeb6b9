"""Locate the L3 middle slice and run the spine quality checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from wbrad.segmentation import L3, LUMBAR, level, short


@dataclass(frozen=True)
class SpineLimits:
    """Plausibility limits. A vertebra's height is the axial extent of its whole mask (body and posterior
    elements, 45-54 mm on TotalSegmentator's example CT); the gap is the space between neighbours' extents, which
    overlap where posterior elements do, so a gap wider than a disc means a missing or mislabelled vertebra."""

    height_mm: tuple[float, float] = (15.0, 60.0)
    max_gap_mm: float = 20.0


def z_extent(mask: np.ndarray | None) -> tuple[int, int] | None:
    """First and last axial slice (``[z, y, x]`` array) holding the mask, or None if empty/absent."""
    if mask is None:
        return None
    z = np.flatnonzero(mask.any(axis=(1, 2)))
    return (int(z[0]), int(z[-1])) if z.size else None


@dataclass(frozen=True)
class Spine:
    """Axial extents of the lumbar vertebrae found, the L3 middle slice and the failed checks."""

    extents: dict[str, tuple[int, int]]
    l3_slice: int | None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def l1l5_range(self) -> tuple[int, int] | None:
        """Slices from the bottom of L5 to the top of L1 (z grows towards the head)."""
        if self.ok:
            return self.extents[LUMBAR[4]][0], self.extents[LUMBAR[0]][1]
        return None

    @property
    def l3_range(self) -> tuple[int, int] | None:
        """The slices of vertebrae_L3, when the checks pass."""
        return self.extents[L3] if self.ok else None


def height_failures(extents: dict[str, tuple[int, int]], z_mm: float, limits: SpineLimits) -> list[str]:
    lo, hi = limits.height_mm
    heights = {name: (top - bottom + 1) * z_mm for name, (bottom, top) in extents.items()}
    return [f"{level(name)} height {h:.0f} mm outside {lo:g}-{hi:g} mm" for name, h in heights.items()
            if not lo <= h <= hi]


def gap_failures(extents: dict[str, tuple[int, int]], z_mm: float, limits: SpineLimits) -> list[str]:
    """Neighbours found (L1/L2 ... L4/L5) further apart than a disc."""
    failures = []
    for upper, lower in pairwise(LUMBAR):
        if upper in extents and lower in extents:
            gap = (extents[upper][0] - extents[lower][1] - 1) * z_mm
            if gap > limits.max_gap_mm:
                failures.append(f"{level(upper)}-{level(lower)} not contiguous: {gap:.0f} mm apart")
    return failures


def find_spine(masks: dict[str, np.ndarray], n_slices: int, z_mm: float,
               limits: SpineLimits = SpineLimits()) -> Spine:
    """Checks: L1..L5 present, ordered head to feet, contiguous and of plausible height (``z_mm``: slice spacing),
    and L3 not touching the first or last slice."""
    extents = {name: ext for name in LUMBAR if (ext := z_extent(masks.get(name))) is not None}
    failures = [f"{short(name)} missing" for name in LUMBAR if name not in extents]
    centres = [sum(extents[name]) / 2 for name in LUMBAR if name in extents]
    if np.any(np.diff(centres) >= 0):
        failures.append("lumbar vertebrae not ordered L1 above L5")
    else:
        failures += gap_failures(extents, z_mm, limits)
    failures += height_failures(extents, z_mm, limits)
    l3 = extents.get(L3)
    if l3 is not None and (l3[0] == 0 or l3[1] == n_slices - 1):
        failures.append(f"{short(L3)} touches the first or last slice")
    return Spine(extents, None if l3 is None else (l3[0] + l3[1]) // 2, failures)
