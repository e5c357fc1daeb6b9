"""Agreement of a result with a known truth, for tests and benchmarks."""

from __future__ import annotations

import numpy as np


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (NaN when both are empty)."""
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return 2 * np.count_nonzero(a & b) / total if total else float("nan")
