"""Registration of the synthetic cohorts' repositioned follow-ups against the true motion in truth.json (issue 13).

`python benchmarks/registration_truth.py COHORT [--size tiny] [--patients 8] [--seed 0] [--threads 2] [--out TSV]`
registers every follow-up CT (``images/<pid>/<tp>/ct.nii.gz``) of a synthetic cohort onto its baseline CT (writing
the cohort with ``wbrad.synth.write_cohort`` first when COHORT has no manifest.tsv) and prints per scan the target
registration error (TRE, mm) at the baseline lesion centres and at a few body points against the truth's rigid
motion (``rigid``) and against the full map with the breathing displacement (``full``), the seconds of ``register``,
and ``quality()``'s Dice numbers; then, for both, the median / max TRE over all points and the count of failures
(scans whose largest TRE exceeds 5 mm). A rigid registration absorbs part of the breathing (up to ~6 mm near the
diaphragm, applied to the bone as well), so its rigid TRE has a floor of about half the breathing peak. Not a test.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from wbrad.io import read_tsv, write_tsv
from wbrad.synth import write_cohort
from wbrad.synth.followup import Pose
from wbrad.tracking.register import Settings, quality, register

FAIL_MM = 5.0
# fractions of the baseline body's bounding box (x, y, z) where the TRE is also measured
BODY_FRACTIONS = ((0.5, 0.5, 0.5), (0.3, 0.5, 0.2), (0.7, 0.5, 0.8), (0.5, 0.3, 0.5), (0.5, 0.7, 0.5),
                  (0.3, 0.6, 0.8), (0.7, 0.4, 0.2))


def pose_of(record: dict) -> Pose:
    """The truth.json ``transform`` record of a follow-up as the synthesiser's pose (rigid part plus breathing)."""
    d = record["deformation"]
    return Pose(tuple(record["rotation_deg"]), tuple(record["translation_mm"]), tuple(record["centre_mm"]),
                tuple(d["peak_yz_mm"]), float(d["at_z_mm"]))


def rigid_truth(record: dict) -> sitk.AffineTransform:
    """The rigid part of the true motion as an ITK transform (baseline point -> follow-up point)."""
    t = sitk.AffineTransform(3)
    t.SetCenter(record["centre_mm"])
    t.SetMatrix(np.asarray(record["matrix"], float).ravel().tolist())
    t.SetTranslation(record["translation_mm"])
    return t


def lesion_centres(scan_truth: dict) -> np.ndarray:
    """The baseline lesion centres (x, y, z mm), a merged mark's centres each."""
    rows = [np.asarray(le["centre_mm"], float).reshape(-1, 3) for le in scan_truth["lesions"].values()]
    return np.vstack(rows) if rows else np.empty((0, 3))


def body_points(ct: sitk.Image, body_hu: float) -> np.ndarray:
    """Points at :data:`BODY_FRACTIONS` of the bounding box of the baseline body mask."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(sitk.Cast(ct > body_hu, sitk.sitkUInt8))
    box = np.asarray(stats.GetBoundingBox(1), float)
    lo, size = box[:3], box[3:] - 1
    return np.array([ct.TransformContinuousIndexToPhysicalPoint(tuple(lo + np.asarray(f) * size))
                     for f in BODY_FRACTIONS])


def tre(transform: sitk.Transform, points: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.linalg.norm([np.subtract(transform.TransformPoint(tuple(map(float, p))), q)
                           for p, q in zip(points, target, strict=True)], axis=1)


def scan_row(cohort: Path, truth: dict, pid: str, tp: str, settings: Settings) -> tuple[dict, np.ndarray]:
    """One follow-up's numbers, and its TRE at every point (rows: rigid, full)."""
    base = sitk.ReadImage(str(cohort / "images" / pid / "baseline" / "ct.nii.gz"))
    follow = sitk.ReadImage(str(cohort / "images" / pid / tp / "ct.nii.gz"))
    record = truth["patients"][pid]["timepoints"][tp]["transform"]
    lesions = lesion_centres(truth["patients"][pid]["timepoints"]["baseline"])
    points = np.vstack([lesions, body_points(base, settings.body_hu)])
    start = time.perf_counter()
    transform = register(base, follow, settings)
    seconds = time.perf_counter() - start
    pose = pose_of(record)
    rigid = tre(transform, points, pose.rigid(points))
    full = tre(transform, points, np.array([pose.to_scan(p) for p in points]))
    q = quality(base, follow, transform, settings)
    n = len(lesions)
    row = {"patient": pid, "timepoint": tp, "seconds": round(seconds, 2), "lesions": n,
           "tre_lesion_median": float(np.median(rigid[:n])) if n else None, "tre_lesion_max": rigid[:n].max(initial=0),
           "tre_body_max": rigid[n:].max(), "tre_max": rigid.max(), "tre_full_max": full.max(),
           "shift_mm": float(np.linalg.norm(record["translation_mm"])), **q}
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, np.vstack([rigid, full])


def cohort_folder(path: Path, size: str, patients: int, seed: int) -> Path:
    if not (path / "manifest.tsv").is_file():
        write_cohort(path, n_patients=patients, seed=seed, size=size, pet_share=0.0, n_jobs=1)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", type=Path)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the per-scan table here (TSV)")
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    cohort = cohort_folder(args.cohort, args.size, args.patients, args.seed)
    truth = json.loads((cohort / "truth.json").read_text())
    manifest = read_tsv(cohort / "manifest.tsv")
    scans = manifest[(manifest["modality"] == "CT") & (manifest["timepoint"] != "baseline")]
    settings = Settings(threads=args.threads)
    rows, errors = [], []
    for r in scans.itertuples():
        row, rigid = scan_row(cohort, truth, r.patient_id, r.timepoint, settings)
        rows.append(row)
        errors.append(rigid)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.drop(columns=["followup_coverage", "mattes_mi"]).to_string(index=False))
    every = np.hstack(errors)
    for i, (name, column) in enumerate((("rigid", "tre_max"), ("full", "tre_full_max"))):
        print(f"{name}: {len(table)} follow-ups, {every.shape[1]} points: TRE median {np.median(every[i]):.2f} mm,"
              f" max {every[i].max():.2f} mm; failures (max TRE > {FAIL_MM:g} mm): "
              f"{int((table[column] > FAIL_MM).sum())}")
    print(f"seconds per follow-up: median {table['seconds'].median():.1f}, max {table['seconds'].max():.1f}")
    if args.out:
        write_tsv(table, args.out)


if __name__ == "__main__":
    main()
