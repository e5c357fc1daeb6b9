"""Choose each study's CT, PET and RTSTRUCT, and each study's timepoint; list what needs a human.

CT: axial, slice thickness at or under ``max_slice_mm``, a soft-tissue kernel preferred (``kernel_pattern``), then
the largest z-coverage, then the thinnest slices; a tie on all of these is ambiguous. PET: attenuation-corrected,
on the CT's frame of reference when there is one. RTSTRUCT: the one referencing the CT's frame of reference.
Timepoints: baseline is the last study within ``baseline_window_days`` before therapy start (inclusive of the start
day); a follow-up is the study inside its window of days after therapy start, and two studies in one window are
ambiguous. Nothing ambiguous is guessed: it is returned with the reason instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Rules:
    max_slice_mm: float = 5.0
    kernel_pattern: str = r"(?i)^(?:B[23]\d|Br3\d|I[23]\d|STANDARD|SOFT|FC0\d|FC1\d)"
    baseline_window_days: int = 42
    baseline: str = "baseline"  # the name of the baseline timepoint (config timepoints.baseline)
    followups: dict[str, tuple[int, int]] = field(  # days after therapy start; 12-weekly restaging
        default_factory=lambda: {"fu1": (21, 126), "fu2": (127, 210), "fu3": (211, 294)})


@dataclass
class Selection:
    rows: list[dict]  # manifest rows (image paths as indexed)
    ambiguous: list[dict]  # original_patient_id or patient_id, study_date, reason


def choose_ct(series: pd.DataFrame, rules: Rules) -> tuple[pd.Series | None, str | None]:
    """The study's CT by the selection rules, or a reason why none (or no single one) can be chosen."""
    ct = series[(series.modality == "CT") & series.axial & (series.slice_thickness_mm <= rules.max_slice_mm)]
    if ct.empty:
        return None, f"no axial CT at or under {rules.max_slice_mm} mm"
    ranked = ct.assign(soft=ct.kernel.str.contains(rules.kernel_pattern, regex=True),
                       thin=-ct.slice_thickness_mm).sort_values(["soft", "z_coverage_mm", "thin"], ascending=False)
    keys = ["soft", "z_coverage_mm", "thin"]
    if len(ranked) > 1 and ranked.iloc[0][keys].equals(ranked.iloc[1][keys]):
        return None, f"{len(ranked)} equally good CT series: {', '.join(ranked.description.iloc[:2])}"
    return ranked.iloc[0], None


def choose_linked(series: pd.DataFrame, modality: str, frame: str) -> tuple[pd.Series | None, str | None]:
    """The study's attenuation-corrected PET or its RTSTRUCT on ``frame``; None without one, a reason with several."""
    candidates = series[series.modality == modality]
    if modality == "PT":
        candidates = candidates[candidates.attenuation_corrected.astype(bool)]
    if len(candidates) > 1:
        candidates = candidates[candidates.frame_of_reference.str.split("\\").apply(lambda frames: frame in frames)]
    if len(candidates) > 1:
        return None, f"{len(candidates)} {modality} series could be the study's {modality}"
    return (candidates.iloc[0], None) if len(candidates) else (None, None)


def timepoint(study_date: dt.date, therapy_start: dt.date, all_dates: list[dt.date], rules: Rules) -> str | None:
    """The timepoint of one study date, or None when it falls in no window (or is not the baseline chosen)."""
    days = (study_date - therapy_start).days
    if -rules.baseline_window_days <= days <= 0:
        before = [d for d in all_dates if -rules.baseline_window_days <= (d - therapy_start).days <= 0]
        return rules.baseline if study_date == max(before) else None
    for name, (lo, hi) in rules.followups.items():
        if lo <= days <= hi:
            return name
    return None


def select(index: pd.DataFrame, therapy_start: dict[str, dt.date], pseudonyms: dict[str, str],
           rules: Rules) -> Selection:
    """Manifest rows for every study that maps to a timepoint, and the ambiguous cases."""
    selection = Selection([], [])
    shared = index[index.modality != "RTSTRUCT"].groupby("path").series_uid.transform("nunique") > 1
    for original, studies in index.groupby("original_patient_id"):
        pid = pseudonyms[original]
        if pid not in therapy_start:
            selection.ambiguous.append({"patient_id": pid, "study_date": "", "reason": "patient not in the registry"})
            continue
        dates = {d: dt.datetime.strptime(d, "%Y%m%d").date() for d in studies.study_date.unique()}
        by_timepoint: dict[str, list[str]] = {}
        for text, date in dates.items():
            if (tp := timepoint(date, therapy_start[pid], list(dates.values()), rules)) is not None:
                by_timepoint.setdefault(tp, []).append(text)
        for tp, study_dates in sorted(by_timepoint.items()):
            if len(study_dates) > 1:
                selection.ambiguous.append({"patient_id": pid, "study_date": ",".join(sorted(study_dates)),
                                            "reason": f"{len(study_dates)} studies in the {tp} window"})
                continue
            _select_study(selection, studies[studies.study_date == study_dates[0]], pid, tp, dates[study_dates[0]],
                          shared, rules)
    return selection


def _select_study(selection: Selection, series: pd.DataFrame, pid: str, tp: str, date: dt.date,
                  shared: pd.Series, rules: Rules) -> None:
    where = {"patient_id": pid, "study_date": date.isoformat()}
    ct, why = choose_ct(series, rules)
    if ct is None:
        selection.ambiguous.append({**where, "reason": why})
        return
    chosen = [("CT", ct)]
    rtstruct, why_rt = choose_linked(series, "RTSTRUCT", ct.frame_of_reference)
    pet, why_pet = choose_linked(series, "PT", ct.frame_of_reference)
    for reason in (why_rt, why_pet):
        if reason:
            selection.ambiguous.append({**where, "reason": reason})
    if pet is not None:
        chosen.append(("PT", pet))
    for modality, row in chosen:
        if shared.get(row.name, False) or row.n_folders != 1:
            selection.ambiguous.append({**where, "reason": f"the {modality} series does not have a folder of its own"})
            continue
        selection.rows.append({"patient_id": pid, "timepoint": tp, "scan_date": date.isoformat(),
                               "modality": modality, "image": row.path,
                               "lesions": rtstruct.path if modality == "CT" and rtstruct is not None else "",
                               "segmentation": ""})
