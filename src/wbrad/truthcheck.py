"""Compare a finished run on a synthetic cohort with the cohort's truth.json: the demo's acceptance numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from wbrad.burden.exclusion import DEFAULT_EXCLUDE, organ_masks
from wbrad.image import read_image
from wbrad.lesions.pet import on_grid
from wbrad.study import BODYCOMP, BURDEN_LESIONS, BURDEN_TABLE, LESION_MAP, LESION_TABLE, SEG_DIR, model_file, result


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


@dataclass(frozen=True)
class BurdenScan:
    """One PET scan's detection against the truth (``burden_scan``)."""

    eligible: int  # true lesions whose SUV >= 4 part is >= 3 cm3
    found: int  # of them, those a detected lesion overlaps
    organ_fp: int  # detected lesions on no true lesion, within ``near_mm`` of an excluded organ
    other_fp: int  # detected lesions on no true lesion elsewhere
    in_organs: int  # detected voxels inside the excluded organs
    tmtv_ml: float
    true_tmtv_ml: float
    rule: str


def burden_scan(scan: dict, results: Path, patient: str, timepoint: str, near_mm: float = 20.0) -> BurdenScan:
    """Compare a scan's detected lesions (burden/lesions.nii.gz) with its true lesions (lesions.nii.gz, from the
    cohort's label map) and the excluded organs of the default ``burden.exclude`` (seg/), on the PET grid."""
    where = {"patient": patient, "timepoint": timepoint}
    detected = read_image(result(results, BURDEN_LESIONS, **where), f"{patient} {timepoint}")
    contours = read_image(result(results, LESION_MAP, **where), f"{patient} {timepoint}")
    found, true = sitk.GetArrayFromImage(detected), on_grid(contours, detected)
    organs = organ_masks(result(results, SEG_DIR, **where), DEFAULT_EXCLUDE, contours, "the lesion map", detected)
    organ = np.logical_or.reduce(list(organs.values()))
    near = ndimage.distance_transform_edt(~organ, sampling=detected.GetSpacing()[::-1]) <= near_mm
    fp = np.setdiff1d(np.arange(1, int(found.max()) + 1), found[true > 0])
    organ_fp = int(sum(near[found == k].any() for k in fp))
    eligible = [int(k) for k, le in scan["lesions"].items() if le["burden_ml"] >= scan["burden"]["min_volume_ml"]]
    row = pd.read_csv(result(results, BURDEN_TABLE, **where), sep="\t").iloc[0]
    return BurdenScan(len(eligible), sum(bool((found[true == k] > 0).any()) for k in eligible), organ_fp,
                      len(fp) - organ_fp, int((found[organ] > 0).sum()), float(row.tmtv_ml),
                      scan["burden"]["tmtv_ml"], f"{row.threshold_rule} {row.threshold_suv:g}")


def _tmtv_error(scan: BurdenScan) -> float:
    """Relative TMTV error; 0 or inf where the true TMTV is 0."""
    if scan.true_tmtv_ml == 0:
        return 0.0 if scan.tmtv_ml == 0 else np.inf
    return abs(scan.tmtv_ml / scan.true_tmtv_ml - 1)


def check_burden(truth: dict, results: Path, recall_floor: float = 0.95, tolerance: float = 0.1,
                 share: float = 0.9) -> list[Check]:
    """The PET tumour burden without contours, with the default rule (SUV >= 4, 3 cm3): detection recall of the true
    lesions whose SUV >= 4 part is >= 3 cm3 at least ``recall_floor``; no detected lesion in or near an excluded
    organ; TMTV within ``tolerance`` of the truth for at least ``share`` of the PET scans."""
    scans = [burden_scan(scan, results, p, tp) for p, tp, scan in _scans(truth) if "burden" in scan]
    if not scans:
        return [Check("burden", False, "no PET scan with a true burden in truth.json")]
    rules = sorted({s.rule for s in scans})
    eligible, found = sum(s.eligible for s in scans), sum(s.found for s in scans)
    errors = np.array([_tmtv_error(s) for s in scans])
    within = int((errors <= tolerance).sum())
    organ_fp, other_fp, inside = (sum(getattr(s, a) for s in scans) for a in ("organ_fp", "other_fp", "in_organs"))
    rule_ok = rules == ["absolute 4"]
    quantiles = ", ".join(f"{q:.0%} {np.quantile(errors, q, method='inverted_cdf'):.3f}" for q in (0.5, 0.9, 1.0))
    return [
        Check("burden recall", rule_ok and found >= recall_floor * eligible,
              f"{found} of {eligible} true lesions >= 3 cm3 at SUV >= 4 detected in {len(scans)} PET scans "
              f"(floor {recall_floor}; rule {', '.join(rules)})"),
        Check("burden organs", organ_fp == 0 and inside == 0,
              f"{organ_fp} detected lesions off the true lesions near an excluded organ, {inside} detected voxels "
              f"inside one; {other_fp} other false positives"),
        Check("burden TMTV", rule_ok and within >= share * len(scans),
              f"{within} of {len(scans)} PET scans within {tolerance:.0%} of the true TMTV (floor {share:.0%}); "
              f"relative error quantiles {quantiles}"),
    ]


def check_truth(cohort: Path, results: Path) -> list[Check]:
    truth = json.loads((cohort / "truth.json").read_text())
    return [
        check_l3(truth, results),
        check_lesion_volumes(truth, results),
        check_lesion_sites(truth, results),
        check_pet_uptake(truth, results),
        *check_burden(truth, results),
        check_model(truth, results),
    ]
