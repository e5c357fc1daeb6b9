"""Locate the L3 middle slice and run the spine quality checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LUMBAR = tuple(f"total/vertebrae_L{k}" for k in range(1, 6))
L3 = LUMBAR[2]


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


def find_spine(masks: dict[str, np.ndarray], n_slices: int) -> Spine:
    """L3 present, L1..L5 present and ordered head to feet, L3 not touching the first or last slice."""
    extents = {name: ext for name in LUMBAR if (ext := z_extent(masks.get(name))) is not None}
    failures = [f"{name.removeprefix('total/')} missing" for name in LUMBAR if name not in extents]
    centres = [sum(extents[name]) / 2 for name in LUMBAR if name in extents]
    if np.any(np.diff(centres) >= 0):
        failures.append("lumbar vertebrae not ordered L1 above L5")
    l3 = extents.get(L3)
    if l3 is not None and (l3[0] == 0 or l3[1] == n_slices - 1):
        failures.append("vertebrae_L3 touches the first or last slice")
    return Spine(extents, None if l3 is None else (l3[0] + l3[1]) // 2, failures)
