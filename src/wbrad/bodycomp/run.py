"""Entry point of the body composition stage: one bodycomp.tsv row and one QC picture per scan."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from wbrad.bodycomp import columns as declared
from wbrad.bodycomp.cutoffs import FLAGS, Body, Cutoff, flags, read_cutoffs
from wbrad.bodycomp.l3 import SpineLimits, find_spine
from wbrad.bodycomp.masks import Scan, load_scan
from wbrad.bodycomp.metrics import (
    ORGANS,
    TISSUES,
    bone_metrics,
    l3_metrics,
    organ_metrics,
    tissue_masks,
    volume_metrics,
)
from wbrad.bodycomp.qc import plot
from wbrad.bodycomp.tissues import tissue_source_of
from wbrad.io import write_rows
from wbrad.segmentation import INTERMUSCULAR_FAT, L1, LUMBAR, S1, T12, TISSUE_SOURCES, TISSUE_TYPES

COLUMNS = [column.name for column in declared.COLUMNS]  # bodycomp.tsv's columns, in order

NEEDED = {*LUMBAR, T12, S1, *ORGANS.values(), *(n for n, _ in TISSUES.values()), INTERMUSCULAR_FAT, L1}


@dataclass(frozen=True)
class Settings:
    """The stage's settings (config ``bodycomp:``): where muscle and fat come from, cut-offs, spine limits."""

    tissue_source: str = TISSUE_TYPES
    cutoffs: tuple[Cutoff, ...] | None = None
    limits: SpineLimits = SpineLimits()

    def __post_init__(self) -> None:
        if self.tissue_source not in TISSUE_SOURCES:
            raise ValueError(f"unknown bodycomp tissue_source {self.tissue_source!r}; known: {TISSUE_SOURCES}")


def valid_height(height_cm: float | None) -> float | None:
    return height_cm if height_cm is not None and math.isfinite(height_cm) and height_cm > 0 else None


def height_note(height_cm: float | None) -> list[str]:
    if valid_height(height_cm) is not None:
        return []
    return ["height missing" if height_cm is None or height_cm != height_cm else "height invalid"]


def bodycomp_row(scan: Scan, body: Body, patient: str, timepoint: str,
                 settings: Settings = Settings()) -> tuple[dict, dict]:
    """The bodycomp.tsv row (missing keys are NA) and the tissue masks, for the QC picture. The masks are tissue_types'
    whatever the route: the segment job writes the licence-free ones there."""
    spine = find_spine(scan.masks, scan.ct.shape[0], scan.spacing[2], settings.limits)
    tissues = tissue_masks(scan)
    failures = spine.failures + [f"{name} missing" for key, (name, _) in TISSUES.items() if key not in tissues]
    if not failures and not tissues["muscle"][spine.l3_slice].any():
        failures.append("no skeletal muscle on the L3 slice")
    organs, notes = organ_metrics(scan)
    bone, bone_notes = bone_metrics(scan)
    row = {"patient_id": patient, "timepoint": timepoint, "l3_slice": spine.l3_slice, **organs, **bone}
    notes += bone_notes
    if not failures:
        notes = height_note(body.height_cm) + notes
        row |= l3_metrics(scan, tissues, spine.l3_slice, spine.l3_range, valid_height(body.height_cm))
        row |= volume_metrics(scan, tissues, spine.l1l5_range)
        flagged, flag_notes = flags(settings.cutoffs, row, body)
        row |= flagged
        notes += flag_notes
    row["qc_status"] = "failed" if failures else "ok"
    row["qc_reason"] = "; ".join(failures + notes) or None
    return row, tissues


def title(row: dict) -> str:
    head = f"{row['patient_id']} {row['timepoint']}  "
    if row["qc_status"] != "ok":
        return head + f"QC failed: {row['qc_reason']}"
    raised = [name for name in FLAGS if row.get(name) == 1]
    return head + f"L3 SMA {row['l3_sma_cm2']:.1f} cm2" + (f"  [{', '.join(raised)}]" if raised else "")


def measure(ct: Path, seg: Path, body: Body, patient: str, timepoint: str, out_tsv: Path, qc_png: Path,
            settings: Settings = Settings()) -> None:
    """Measure body composition of one scan; write ``bodycomp.tsv`` (one row) and the QC picture."""
    try:
        if (source := tissue_source_of(Path(seg))) != settings.tissue_source:
            raise ValueError(f"{seg}: its tissue masks come from tissue_source {source}, the config asks for "
                             f"{settings.tissue_source}: rerun the segment rule")
        scan = load_scan(Path(ct), Path(seg), NEEDED)
    except (ValueError, FileNotFoundError) as err:
        raise type(err)(f"{patient} {timepoint}: {err}") from err
    row, tissues = bodycomp_row(scan, body, patient, timepoint, settings)
    plot(scan, tissues, row["l3_slice"], title(row), Path(qc_png))
    write_rows([row], COLUMNS, out_tsv)


def settings_from(config: dict, cutoffs_path: str | Path | None) -> Settings:
    """Settings from the config's ``bodycomp:`` section and the cut-off table's path."""
    source = config.get("cutoff_source")
    limits = SpineLimits(tuple(config.get("vertebra_height_mm", SpineLimits.height_mm)),
                         config.get("max_gap_mm", SpineLimits.max_gap_mm))
    return Settings(config.get("tissue_source", TISSUE_TYPES),
                    read_cutoffs(cutoffs_path, source) if cutoffs_path and source else None, limits)
