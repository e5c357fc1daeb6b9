"""Entry point of the body composition stage: one bodycomp.tsv row and one QC picture per scan."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from wbrad.bodycomp.l3 import LUMBAR, find_spine
from wbrad.bodycomp.masks import Scan, load_scan
from wbrad.bodycomp.metrics import ORGANS, TISSUES, l1l5_metrics, l3_metrics, organ_metrics, tissue_masks
from wbrad.bodycomp.qc import plot
from wbrad.io import write_tsv

COLUMNS = ["patient_id", "timepoint", "l3_slice", "l3_sma_cm2", "l3_smi_cm2m2", "l3_muscle_hu", "l3_vat_cm2",
           "l3_sat_cm2", "l1l5_muscle_ml", "l1l5_vat_ml", "l1l5_sat_ml", "liver_ml", "liver_hu", "spleen_ml",
           "qc_status", "qc_reason"]

NEEDED = {*LUMBAR, "total/vertebrae_T12", "total/vertebrae_S1", *ORGANS.values(), *(n for n, _ in TISSUES.values())}


def valid_height(height_cm: float | None) -> float | None:
    return height_cm if height_cm is not None and math.isfinite(height_cm) and height_cm > 0 else None


def bodycomp_row(scan: Scan, height_cm: float | None, patient: str, timepoint: str) -> tuple[dict, dict]:
    """The bodycomp.tsv row (missing keys are NA) and the tissue masks, for the QC picture."""
    spine = find_spine(scan.masks, scan.ct.shape[0])
    tissues = tissue_masks(scan)
    failures = spine.failures + [f"{name} missing" for key, (name, _) in TISSUES.items() if key not in tissues]
    if not failures and not tissues["muscle"][spine.l3_slice].any():
        failures.append("no skeletal muscle on the L3 slice")
    organs, notes = organ_metrics(scan)
    row = {"patient_id": patient, "timepoint": timepoint, "l3_slice": spine.l3_slice, **organs}
    if not failures:
        height = valid_height(height_cm)
        if height is None:
            notes.insert(0, "height missing" if height_cm is None or height_cm != height_cm else "height invalid")
        row |= l3_metrics(scan, tissues, spine.l3_slice, height) | l1l5_metrics(scan, tissues, spine.l1l5_range)
    row["qc_status"] = "failed" if failures else "ok"
    row["qc_reason"] = "; ".join(failures + notes) or None
    return row, tissues


def title(row: dict) -> str:
    head = f"{row['patient_id']} {row['timepoint']}  "
    if row["qc_status"] == "ok":
        return head + f"L3 SMA {row['l3_sma_cm2']:.1f} cm2"
    return head + f"QC failed: {row['qc_reason']}"


def measure(ct: Path, seg: Path, height_cm: float | None, patient: str, timepoint: str, out_tsv: Path,
            qc_png: Path) -> None:
    """Measure body composition of one scan; write ``bodycomp.tsv`` (one row) and the QC picture."""
    try:
        scan = load_scan(Path(ct), Path(seg), NEEDED)
    except (ValueError, FileNotFoundError) as err:
        raise type(err)(f"{patient} {timepoint}: {err}") from err
    row, tissues = bodycomp_row(scan, height_cm, patient, timepoint)
    plot(scan, tissues, row["l3_slice"], title(row), Path(qc_png))
    df = pd.DataFrame([row]).reindex(columns=COLUMNS)
    df["l3_slice"] = df["l3_slice"].astype("Int64")
    write_tsv(df, out_tsv)
