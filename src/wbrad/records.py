"""Impossible records: the manifest's scan dates against the baseline scan, therapy start and the registry's
survival times, found before anything runs.

Checks and their default severities (``CHECKS``; the config's ``record_checks`` may set any of them to
``blocking`` or ``warning``):

- ``followup_before_baseline`` (blocking): a scan of another timepoint dated before the patient's baseline scan of
  the same modality (else its earliest baseline scan): its change from baseline would run backwards.
- ``scan_before_therapy`` (blocking): a scan of another timepoint than the baseline dated before therapy start: the
  landmark (days from therapy start to the follow-up scan) would be negative.
- ``scan_after_death`` (blocking): a scan after therapy_start + os_days of a patient who died (os_event 1).
- ``scan_after_last_followup`` (warning): a scan after therapy_start + os_days of a censored patient: the registry's
  follow-up is older than the scan (the patient was seen alive later); update os_days.
- ``pfs_longer_than_os`` (blocking): pfs_days > os_days; progression-free survival ends at death at the latest.
- ``duplicate_scan_date`` (blocking): two timepoints of one patient with a scan of the same modality on one date
  (a scan listed twice, or a date typed wrong).

Policy: a blocking problem stops the workflow before any job starts (all of them listed at once) and fails
``wbrad audit --strict``; a warning is printed (Snakemake's log, the audit) and the record is used as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from wbrad.study import Timepoints

BLOCKING, WARNING = "blocking", "warning"
CHECKS = {  # check -> default severity
    "followup_before_baseline": BLOCKING,
    "scan_before_therapy": BLOCKING,
    "scan_after_death": BLOCKING,
    "scan_after_last_followup": WARNING,
    "pfs_longer_than_os": BLOCKING,
    "duplicate_scan_date": BLOCKING,
}


@dataclass(frozen=True)
class RecordProblem:
    """One impossible record; ``timepoint`` is empty when it concerns the registry row only."""

    patient: str
    timepoint: str
    check: str
    severity: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.patient} {self.timepoint}".strip()
        return f"[{self.severity}] patient {where}: {self.check}: {self.detail}"


def _days(dates: pd.Series) -> pd.Series:
    """Dates as ``YYYY-MM-DD`` text (NA stays NA)."""
    return dates.dt.strftime("%Y-%m-%d")


def _scans(manifest: pd.DataFrame, registry: pd.DataFrame) -> pd.DataFrame:
    """One row per scan: ``patient_id, timepoint, modality, date``, the registry's ``start`` (therapy start),
    ``end`` (therapy_start + os_days) and ``os_event``; NaT/NA for patients the registry lacks."""
    scans = manifest[["patient_id", "timepoint", "modality", "scan_date"]].reset_index(drop=True)
    scans["date"] = pd.to_datetime(scans["scan_date"], errors="coerce")
    clinical = registry[["patient_id", "os_event"]].reset_index(drop=True)
    clinical["start"] = pd.to_datetime(registry["therapy_start"].to_numpy(), errors="coerce")
    clinical["os_days"] = pd.to_numeric(registry["os_days"], errors="coerce").to_numpy()
    clinical["end"] = clinical["start"] + pd.to_timedelta(clinical["os_days"], unit="D")
    return scans.merge(clinical, on="patient_id", how="left")


def _baseline_dates(scans: pd.DataFrame, baseline: str) -> pd.Series:
    """Per scan, the date of the patient's baseline scan of its modality, else of its earliest baseline scan."""
    base = scans[scans.timepoint == baseline]
    own = scans[["patient_id", "modality"]].merge(base[["patient_id", "modality", "date"]], how="left")["date"]
    return own.fillna(scans["patient_id"].map(base.groupby("patient_id")["date"].min())).set_axis(scans.index)


def _date_texts(scans: pd.DataFrame, timepoints: Timepoints) -> dict[str, pd.Series]:
    """Per date check, the offending scans (index of ``scans``) and what is wrong with each, naming the dates."""
    label = scans["modality"] + " " + _days(scans["date"])
    later = scans["timepoint"] != timepoints.baseline
    reference = _baseline_dates(scans, timepoints.baseline)
    after = scans["date"] > scans["end"]
    end = (_days(scans["end"]) + " (therapy_start " + _days(scans["start"]) + " + os_days "
           + scans["os_days"].map("{:g}".format, na_action="ignore") + ")")
    key = ["patient_id", "modality", "date"]
    repeated = scans.duplicated(key) & scans["date"].notna()
    first = scans.groupby(key)["timepoint"].transform("first")
    return {
        "followup_before_baseline": (label + " is before the baseline scan of " + _days(reference))[
            later & (scans["date"] < reference)],
        "scan_before_therapy": (label + " is before therapy_start " + _days(scans["start"]))[
            later & (scans["date"] < scans["start"])],
        "scan_after_death": (label + " is after death on " + end)[after & (scans["os_event"] == 1)],
        "scan_after_last_followup": (label + " is after the last follow-up on " + end + ", os_event 0: update "
                                     "os_days")[after & (scans["os_event"] == 0)],
        "duplicate_scan_date": (label + " is the date of the " + first + " " + scans["modality"])[repeated],
    }


def _survival_problems(registry: pd.DataFrame, severity: str) -> list[RecordProblem]:
    pfs, os_days = (pd.to_numeric(registry[c], errors="coerce") for c in ("pfs_days", "os_days"))
    return [RecordProblem(str(patient), "", "pfs_longer_than_os", severity,
                          f"pfs_days {p:g} > os_days {o:g}: progression-free survival ends at death at the latest")
            for patient, p, o in zip(registry["patient_id"], pfs, os_days, strict=True) if p > o]


def record_problems(manifest: pd.DataFrame, registry: pd.DataFrame, timepoints: Timepoints,
                    severities: Mapping[str, str] | None = None) -> list[RecordProblem]:
    """Every impossible record of the manifest and registry (see the module), one problem per patient and
    timepoint and check (its scans' modalities and dates in ``detail``), sorted by patient; ``severities``
    (config ``record_checks``) overrides the default severity of ``CHECKS``."""
    severity = {**CHECKS, **(severities or {})}
    scans = _scans(manifest, registry)
    problems = _survival_problems(registry, severity["pfs_longer_than_os"])
    for check, texts in _date_texts(scans, timepoints).items():
        where = scans.loc[texts.index]
        for (patient, timepoint), group in texts.groupby([where["patient_id"], where["timepoint"]], sort=True):
            problems.append(RecordProblem(patient, timepoint, check, severity[check], "; ".join(group)))
    order = list(CHECKS)
    return sorted(problems, key=lambda p: (p.patient, p.timepoint, order.index(p.check)))


def message(problems: list[RecordProblem], sources: str) -> str:
    """The problems as one message (a WorkflowError's), saying how to relax a check."""
    lines = "\n  ".join(map(str, problems))
    return (f"{len(problems)} impossible record(s) in {sources} (a check wrong for your registry can be set to "
            f"warning in the config's record_checks):\n  {lines}")
