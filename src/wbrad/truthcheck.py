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
from wbrad.study import (
    BODYCOMP,
    BURDEN_LESIONS,
    BURDEN_TABLE,
    COHORT,
    DELTA_LESIONS,
    LESION_MAP,
    LESION_TABLE,
    RESPONSE,
    SEG_DIR,
    TRACKS,
    model_file,
    result,
)


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
    """pyradiomics VoxelVolume of every lesion equal to the true voxel volume; of a lesion the scan range cuts
    (truth ``truncated``), whose shape features the lesion stage leaves NA, the visible volume (``volume_ml``)."""
    n = equal = 0
    for patient, timepoint, scan in _scans(truth):
        table = pd.read_csv(
            result(results, LESION_TABLE, patient=patient, timepoint=timepoint, modality="ct"), sep="\t"
        ).set_index("lesion")
        for label, lesion in scan["lesions"].items():
            n += 1
            row = table.loc[int(label)] if int(label) in table.index else None
            cut = lesion.get("truncated", False)
            measured = np.nan if row is None else row["volume_ml"] * 1000 if cut else row["original_shape_VoxelVolume"]
            equal += bool(abs(measured - lesion["voxel_volume_mm3"]) <= 1e-6 * lesion["voxel_volume_mm3"])
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
        check_tracking(truth, results),
        check_lesion_deltas(truth, results),
        check_recist(truth, results),
        check_tracked_model(truth, results, pd.read_csv(result(results, COHORT), sep="\t", dtype={"patient_id": str})),
    ]


# --- lesion tracking and response (issue 13) --------------------------------------------------------------------------
def _identities(lesion: dict) -> list[str]:
    """The true lesions a label holds: several for a merged mask."""
    return lesion.get("merged_ids") or [lesion["lesion_id"]]


def true_links(record: dict) -> set[tuple[str, str, int]]:
    """``(identity, timepoint, label)`` for every label of every scan of a patient. A lesion first seen inside a
    merged mask (too small to contour before, then joined to another) is no link anyone could make: left out."""
    links, seen = set(), set()
    for tp, scan in record["timepoints"].items():
        for label, lesion in scan["lesions"].items():
            ids = _identities(lesion)
            known = [i for i in ids if i in seen] if len(ids) > 1 else ids
            links |= {(i, tp, int(label)) for i in known or ids[:1]}
        seen |= {i for lesion in scan["lesions"].values() for i in _identities(lesion)}
    return links


def tracked_links(tracks: pd.DataFrame, record: dict) -> set[tuple[str, str, int]]:
    """The same links as the tracks make them: each track is the true lesion of the label it starts with."""
    seen = tracks.dropna(subset=["lesion"])
    links = set()
    for _, rows in seen.groupby("track", sort=False):
        first = rows.iloc[0]
        truth = record["timepoints"][first["timepoint"]]["lesions"].get(str(int(first["lesion"])))
        identity = _identities(truth)[0] if truth else f"false:{first['timepoint']}:{int(first['lesion'])}"
        links |= {(identity, tp, int(label)) for tp, label in zip(rows["timepoint"], rows["lesion"], strict=True)}
    return links


def _patient_links(record: dict, tracks: pd.DataFrame) -> dict[str, int]:
    """One patient's counts: tracked and true follow-up links, their overlap, new and disappeared lesions."""
    baseline = next(iter(record["timepoints"]))
    links = {k for k in tracked_links(tracks, record) if k[1] != baseline}
    expected = {k for k in true_links(record) if k[1] != baseline}
    lesions = [le for scan in record["timepoints"].values() for le in scan["lesions"].values()]
    return {"found": len(links), "true": len(expected), "hits": len(links & expected),
            "new_true": sum(le["event"] == "new" for le in lesions), "new": int((tracks["status"] == "new").sum()),
            "gone_true": sum(len(v) for v in record.get("disappeared", {}).values()),
            "gone": int((tracks["status"] == "disappeared").sum())}


def check_tracking(truth: dict, results: Path, floor: float = 0.95) -> Check:
    """Precision and recall of the follow-up links (a lesion of a follow-up scan assigned to its true lesion) of
    every patient's tracks; new and disappeared lesions counted against the truth."""
    total = dict.fromkeys(["found", "true", "hits", "new_true", "new", "gone_true", "gone"], 0)
    for patient, record in truth["patients"].items():
        path = result(results, TRACKS, patient=patient)
        if path.is_file():
            tracks = pd.read_csv(path, sep="\t", dtype={"patient_id": str}).astype({"lesion": "Int64"})
            total = {k: v + _patient_links(record, tracks)[k] for k, v in total.items()}
    precision = total["hits"] / total["found"] if total["found"] else float("nan")
    recall = total["hits"] / total["true"] if total["true"] else float("nan")
    detail = (f"{total['hits']} of {total['found']} tracked follow-up lesions on their true lesion (precision "
              f"{precision:.3f}), {total['hits']} of {total['true']} true links found (recall {recall:.3f}); new "
              f"lesions {total['new']} tracked, {total['new_true']} true; disappeared {total['gone']} tracked, "
              f"{total['gone_true']} true")
    return Check("lesion tracking", total["found"] > 0 and precision >= floor and recall >= floor, detail)


def _part(value, k: int):
    """A merged mask's truth holds one value per lesion part."""
    return value[k] if isinstance(value, list) else value


Measured = dict[tuple[str, int], dict[str, float]]  # (timepoint, label) -> the lesion table's axes and volume


def _true_values(lesion: dict, k: int) -> dict[str, float]:
    """True axial diameters of part ``k`` (none for a lesion the scan range cuts: not measurable there, RECIST NE) and
    voxel volume (a merged mask's for its first lesion)."""
    cut = lesion.get("truncated", False)
    return {"long_axis_mm": np.nan if cut else _part(lesion["long_axis_mm"], k),
            "short_axis_mm": np.nan if cut else _part(lesion["short_axis_mm"], k),
            "volume_ml": lesion["voxel_volume_mm3"] / 1000 if k == 0 else 0.0}


def _scan_rows(tp: str, day: float, scan: dict, ids: dict[str, int], baseline: str,
               measured: Measured | None) -> list[dict]:
    rows = []
    for label, lesion in scan["lesions"].items():
        for k, identity in enumerate(_identities(lesion)):
            status = "baseline" if tp == baseline else "new" if identity not in ids else "matched"
            values = _true_values(lesion, k) if measured is None else measured[(tp, int(label))]
            rows.append({"track": ids.setdefault(identity, len(ids) + 1), "timepoint": tp, "day": day,
                         "lesion": int(label), "status": status, "site": lesion["site"], **values})
    return rows


def true_track_table(record: dict, measured: Measured | None = None) -> pd.DataFrame:
    """The response module's input built from the truth: one row per true lesion (part) and scan, with the true
    values (``_true_values``), or with the pipeline's ``measured`` values of each label (true correspondences, measured
    lesions); disappeared lesions with no diameter."""
    rows, ids = [], {}
    scans = record["timepoints"]
    baseline = next(iter(scans))
    for tp, scan in scans.items():
        day = scan["scan_day"] - scans[baseline]["scan_day"]
        rows += _scan_rows(tp, day, scan, ids, baseline, measured)
        rows += [{"track": ids[i], "timepoint": tp, "day": day, "lesion": pd.NA, "status": "disappeared",
                  "site": None, "long_axis_mm": np.nan, "short_axis_mm": np.nan, "volume_ml": np.nan}
                 for i in record.get("disappeared", {}).get(tp, []) if i in ids]
    table = pd.DataFrame(rows).astype({"lesion": "Int64", "long_axis_mm": float, "short_axis_mm": float})
    table["site"] = table.groupby("track")["site"].transform(lambda s: s.ffill().bfill())
    return table


def measured_values(results: Path, patient: str, record: dict) -> Measured:
    """Every CT lesion's axes and volume as the patient's lesion tables hold them."""
    out = {}
    for tp in record["timepoints"]:
        table = pd.read_csv(result(results, LESION_TABLE, patient=patient, timepoint=tp, modality="ct"), sep="\t")
        for row in table.itertuples():
            out[(tp, int(row.lesion))] = {"long_axis_mm": row.long_axis_mm, "short_axis_mm": row.short_axis_mm,
                                          "volume_ml": row.volume_ml}
    return out


def check_recist(truth: dict, results: Path, floor: float = 0.95) -> Check:
    """RECIST 1.1 category per follow-up from the pipeline's tracks equal to the category from the true diameters
    and the true correspondences."""
    from wbrad.response.recist import recist_table

    n = equal = 0
    for patient, record in truth["patients"].items():
        path = result(results, RESPONSE, patient=patient)
        if not path.is_file():
            continue
        truth_tracks = true_track_table(record)
        if not (truth_tracks["status"] == "baseline").any():  # no baseline lesion: not evaluable, nothing to compare
            continue
        measured = pd.read_csv(path, sep="\t", dtype={"patient_id": str}).set_index("timepoint")["recist_category"]
        expected = recist_table(truth_tracks).set_index("timepoint")["category"]
        for tp, category in expected.iloc[1:].items():
            n += 1
            equal += tp in measured.index and measured[tp] == category
    share = equal / n if n else float("nan")
    return Check("RECIST 1.1 per timepoint", n > 0 and share >= floor,
                 f"{equal} of {n} follow-ups with the category of the true diameters ({share:.3f}, floor {floor})")


def _delta_rows(record: dict, delta: pd.DataFrame, baseline: str) -> tuple[int, int]:
    """(correctly tracked single lesions, of them those whose volume change equals the truth's) of one patient."""
    n = equal = 0
    ct = delta[(delta["modality"] == "CT") & (delta["status"] == "matched")].dropna(subset=["lesion_baseline"])
    scans = record["timepoints"]
    for row in ct.itertuples():
        before = scans[baseline]["lesions"].get(str(row.lesion_baseline))
        after = scans[row.timepoint]["lesions"].get(str(row.lesion))
        one_mask = after and "merged_ids" not in after and after["event"] != "split"
        if not before or not one_mask or after["lesion_id"] != before["lesion_id"]:
            continue
        n += 1
        true = (after["voxel_volume_mm3"] - before["voxel_volume_mm3"]) / 1000
        equal += abs(row.abs_volume_ml - true) <= 1e-6 * max(1.0, abs(true))
    return n, equal


def check_lesion_deltas(truth: dict, results: Path) -> Check:
    """The volume change of every correctly tracked lesion (one mask at both scans) equal to the truth's."""
    n = equal = 0
    for patient, record in truth["patients"].items():
        path = result(results, DELTA_LESIONS, patient=patient)
        if path.is_file():
            delta = pd.read_csv(path, sep="\t", dtype={"lesion_baseline": str, "lesion": str, "timepoint": str})
            counts = _delta_rows(record, delta, next(iter(record["timepoints"])))
            n, equal = n + counts[0], equal + counts[1]
    return Check("tracked lesion deltas", n > 0 and equal == n,
                 f"{equal} of {n} correctly tracked lesions with the true volume change")


TRACKED_FEATURES = ["tracked_volume_rel_median", "tracked_progressing_share", "tracked_responding_share",
                    "tracked_new_lesions"]
TRACKED_MODEL = {  # the OS model of the tracked-delta check: the demo's coxnet, clinical factors and tracked deltas
    "endpoints": {"os": {"type": "survival", "time": "os_days", "event": "os_event"}},
    "feature_sets": {"tracked": {"columns": ["ecog", "ldh", *TRACKED_FEATURES]}},
    "landmark": {"features": "^(delta_|tracked_)"},  # follow-up features: survival counted from the follow-up scan
    "cv": {"folds": 5, "repeats": 3, "seed": 0, "bootstrap": 0}, "transform": "yeo-johnson",
    "coxnet": {"l1_ratio": 0.5, "inner_folds": 3},
}


def true_tracked_columns(record: dict, measured: Measured, followup: str = "fu1") -> dict[str, float]:
    """``TRACKED_FEATURES`` of one patient computed by the pipeline's own function from the true correspondences of
    the measured lesions."""
    from wbrad.response.cohort import lesion_shares

    shares = lesion_shares(true_track_table(record, measured), followup)
    return {k: shares[k] for k in TRACKED_FEATURES}


def _model_cindex(cohort: pd.DataFrame) -> tuple[float, int]:
    """Cross-validated C-index (mean over repeats) of ``TRACKED_MODEL`` and its number of patients."""
    from wbrad.model.metrics import cindex
    from wbrad.model.pipelines import make_model
    from wbrad.model.run import prepare
    from wbrad.model.validation import cross_validate

    study = prepare(cohort, "os", TRACKED_MODEL)
    X = study.table[study.feature_sets["tracked"]]
    oof = cross_validate(make_model("coxnet", TRACKED_MODEL), X, study.y, TRACKED_MODEL["cv"], where="truth check")
    return float(np.mean([cindex(study.y, r) for r in oof.risk])), len(X)


def check_tracked_model(truth: dict, results: Path, cohort: pd.DataFrame, followup: str = "fu1",
                        margin: float = 0.03) -> Check:
    """The cross-validated OS model with tracked delta features (``TRACKED_MODEL``) within ``margin`` C-index of the
    same model fed the same features computed from the true correspondences of the same measured lesions (same
    patients, folds and seeds): what the tracking's errors cost the model."""
    tracked = cohort[cohort[TRACKED_FEATURES].notna().any(axis=1)].reset_index(drop=True)
    true = pd.DataFrame([true_tracked_columns(truth["patients"][p], measured_values(results, p, truth["patients"][p]),
                                              followup) for p in tracked["patient_id"]])
    if tracked.empty or tracked["os_event"].sum() < 5:
        return Check("OS model of tracked deltas", False, f"{len(tracked)} patients, too few events")
    c_tracked, n = _model_cindex(tracked)
    c_true, _ = _model_cindex(tracked.assign(**{k: true[k].to_numpy() for k in TRACKED_FEATURES}))
    return Check("OS model of tracked deltas", abs(c_tracked - c_true) <= margin,
                 f"cross-validated coxnet (ecog, ldh, {', '.join(TRACKED_FEATURES)}), {n} patients: C-index with "
                 f"the tracked lesions {c_tracked:.3f}, with the true correspondences {c_true:.3f} (margin {margin})")
