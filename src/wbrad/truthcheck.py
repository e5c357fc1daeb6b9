"""Compare a finished run on a synthetic cohort with the cohort's truth.json: the demo's acceptance numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wbrad.study import BODYCOMP, LESION_TABLE, model_file, result


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
        row = pd.read_csv(result(results, BODYCOMP, patient=patient, timepoint=timepoint), sep="\t").iloc[0]
        errors.append(abs(row.l3_sma_cm2 / scan["l3_sma_cm2"] - 1))
    worst = max(errors)
    return Check("L3 muscle area", worst <= tolerance,
                 f"{len(errors)} scans, largest relative error {worst:.4f} (limit {tolerance})")


def check_lesion_volumes(truth: dict, results: Path) -> Check:
    """pyradiomics VoxelVolume of every lesion equal to the true voxel volume."""
    n = equal = 0
    for patient, timepoint, scan in _scans(truth):
        table = pd.read_csv(
            result(results, LESION_TABLE, patient=patient, timepoint=timepoint, modality="ct"), sep="\t"
        ).set_index("lesion")
        for label, lesion in scan["lesions"].items():
            n += 1
            measured = table.at[int(label), "original_shape_VoxelVolume"] if int(label) in table.index else None
            equal += (
                measured is not None and abs(measured - lesion["voxel_volume_mm3"]) <= 1e-6 * lesion["voxel_volume_mm3"]
            )
    return Check("lesion VoxelVolume", n > 0 and equal == n, f"{equal} of {n} lesions equal to the truth")


def check_lesion_sites(truth: dict, results: Path, floor: float = 0.95) -> Check:
    """Organ site of at least ``floor`` of the lesions equal to the truth's."""
    n = equal = 0
    for patient, timepoint, scan in _scans(truth):
        sites = pd.read_csv(
            result(results, LESION_TABLE, patient=patient, timepoint=timepoint, modality="ct"), sep="\t"
        ).set_index("lesion")["site"]
        n += len(scan["lesions"])
        equal += sum(sites.get(int(label)) == lesion["site"] for label, lesion in scan["lesions"].items())
    return Check(
        "lesion sites", n > 0 and equal >= floor * n, f"{equal} of {n} lesions at the true site (floor {floor})"
    )


def check_pet_uptake(truth: dict, results: Path, tolerance: float = 0.05) -> Check:
    """SUVmax of every PET lesion equal to the truth's (NA where the truth's is: no PET voxel centre in the lesion);
    MTV of the others within ``tolerance`` of the true voxel volume (with the default whole-lesion delineation)."""
    n = exact = close = measured = 0
    for patient, timepoint, scan in _scans(truth):
        path = result(results, LESION_TABLE, patient=patient, timepoint=timepoint, modality="pet")
        if not truth["patients"][patient]["pet"] or not path.exists():
            continue
        table = pd.read_csv(path, sep="\t").set_index("lesion")
        for label, lesion in scan["lesions"].items():
            n += 1
            row = table.loc[int(label)] if int(label) in table.index else None
            none = lesion["suvmax"] is None
            exact += row is not None and (row.suvmax == lesion["suvmax"] or (none and pd.isna(row.suvmax)))
            measured += not none
            error = abs(row.mtv_ml * 1e3 / lesion["voxel_volume_mm3"] - 1) if row is not None else np.inf
            close += not none and error <= tolerance
    return Check(
        "PET uptake",
        n > 0 and exact == n and close == measured,
        f"{n} PET lesions: SUVmax equal to the truth for {exact}; MTV within {tolerance:.0%} for {close} of "
        f"the {measured} holding a PET voxel centre",
    )


def check_model(
    truth: dict,
    results: Path,
    endpoint: str = "os",
    feature_set: str = "clinical+imaging",
    floor: float = 0.65,
    margin: float = 0.1,
) -> Check:
    """The best model's cross-validated C-index above `floor` and within `margin` of the oracle C-index."""
    metrics = pd.read_csv(result(results, model_file("metrics"), endpoint=endpoint), sep="\t")
    rows = metrics[metrics.feature_set == feature_set]
    best = rows.loc[rows.cindex.idxmax()]
    oracle = truth["oracle_cindex"][endpoint]
    passed = best.cindex > floor and best.cindex >= oracle - margin
    detail = (
        f"{endpoint} {feature_set} {best.model}: C {best.cindex:.3f} [{best.cindex_lo:.3f}, {best.cindex_hi:.3f}], "
        f"oracle {oracle:.3f}; " + ", ".join(f"{r.feature_set}/{r.model} {r.cindex:.3f}" for r in metrics.itertuples())
    )
    return Check(f"{endpoint} C-index", passed, detail)


def check_truth(cohort: Path, results: Path) -> list[Check]:
    truth = json.loads((cohort / "truth.json").read_text())
    return [
        check_l3(truth, results),
        check_lesion_volumes(truth, results),
        check_lesion_sites(truth, results),
        check_pet_uptake(truth, results),
        check_model(truth, results),
    ]
