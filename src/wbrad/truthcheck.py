"""Compare a finished run on a synthetic cohort with the cohort's truth.json: the demo's acceptance numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def _scans(truth: dict):
    for patient, record in truth["patients"].items():
        for timepoint, scan in record["timepoints"].items():
            yield patient, timepoint, scan


def check_l3(truth: dict, results: Path, tolerance: float = 0.03) -> Check:
    """L3 skeletal muscle area of every scan within `tolerance` (relative) of the truth."""
    errors = []
    for patient, timepoint, scan in _scans(truth):
        row = pd.read_csv(results / patient / timepoint / "bodycomp.tsv", sep="\t").iloc[0]
        errors.append(abs(row.l3_sma_cm2 / scan["l3_sma_cm2"] - 1))
    worst = max(errors)
    return Check("L3 muscle area", worst <= tolerance,
                 f"{len(errors)} scans, largest relative error {worst:.4f} (limit {tolerance})")


def check_lesion_volumes(truth: dict, results: Path) -> Check:
    """pyradiomics VoxelVolume of every lesion equal to the true voxel volume."""
    n = equal = 0
    for patient, timepoint, scan in _scans(truth):
        table = pd.read_csv(results / patient / timepoint / "lesions_ct.tsv", sep="\t").set_index("lesion")
        for label, lesion in scan["lesions"].items():
            n += 1
            measured = table.at[int(label), "original_shape_VoxelVolume"] if int(label) in table.index else None
            equal += measured is not None and abs(measured - lesion["voxel_volume_mm3"]) <= 1e-6 * lesion["voxel_volume_mm3"]
    return Check("lesion VoxelVolume", n > 0 and equal == n, f"{equal} of {n} lesions equal to the truth")


def check_model(truth: dict, results: Path, endpoint: str = "os", feature_set: str = "clinical+imaging",
                floor: float = 0.65, margin: float = 0.1) -> Check:
    """The best model's cross-validated C-index above `floor` and within `margin` of the oracle C-index."""
    metrics = pd.read_csv(results / "models" / endpoint / "metrics.tsv", sep="\t")
    rows = metrics[metrics.feature_set == feature_set]
    best = rows.loc[rows.cindex.idxmax()]
    oracle = truth["oracle_cindex"][endpoint]
    passed = best.cindex > floor and best.cindex >= oracle - margin
    detail = (f"{endpoint} {feature_set} {best.model}: C {best.cindex:.3f} [{best.cindex_lo:.3f}, {best.cindex_hi:.3f}], "
              f"oracle {oracle:.3f}; " + ", ".join(f"{r.feature_set}/{r.model} {r.cindex:.3f}" for r in metrics.itertuples()))
    return Check(f"{endpoint} C-index", passed, detail)


def check_truth(cohort: Path, results: Path) -> list[Check]:
    truth = json.loads((cohort / "truth.json").read_text())
    return [check_l3(truth, results), check_lesion_volumes(truth, results), check_model(truth, results)]
