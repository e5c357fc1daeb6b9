"""The track job: follow one patient's lesions over every timepoint, assess their response and draw the tracking QC
picture (rule ``track``; the ``register`` job is :func:`wbrad.tracking.register.register_followup`).

``tracks.tsv`` is :func:`wbrad.tracking.tracks.track_patient`'s long table with each row's ``day`` (since baseline)
and the lesion's ``site``, ``volume_ml`` and RECIST axes from that scan's CT lesion table. ``response.tsv`` has one
row per timepoint: the RECIST 1.1 and iRECIST numbers and calls of :func:`wbrad.response.irecist.irecist_table`
(``category`` renamed ``recist_category``) and, at PET timepoints, PERCIST 1.0's (``percist_<column>``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from wbrad import integrity
from wbrad.failures import UpstreamFailed
from wbrad.image import read_image
from wbrad.io import read_tsv, write_tsv
from wbrad.lesions.columns import TRUNCATED
from wbrad.response.vocabulary import BASELINE, DISAPPEARED, MATCHED, NE, NEW, TRACK
from wbrad.segmentation import LIVER, mask_path
from wbrad.tracking.match import Gates
from wbrad.tracking.register import load_transform
from wbrad.tracking.tracks import shared_labels_agreement, track_patient

if TYPE_CHECKING:
    import SimpleITK as sitk

    Reader = Callable[[Path], sitk.Image]

log = logging.getLogger(__name__)

LESION_VALUES = ["site", "volume_ml", "long_axis_mm", "short_axis_mm"]  # taken from each scan's CT lesion table
INDEPENDENT, SHARED = "independent", "shared"  # config lesions.labels: how follow-up labels relate to baseline's


def label_tracks(maps: dict[str, pd.DataFrame], baseline: str) -> pd.DataFrame:
    """Tracks from labels shared over the timepoints (``lesions.labels: shared``): label k is track k everywhere."""
    rows, seen = [], set(maps[baseline]["lesion"])
    for timepoint, table in maps.items():
        labels = set(table["lesion"])
        for label in sorted(labels | seen):
            status = (BASELINE if timepoint == baseline else MATCHED if label in labels and label in seen
                      else NEW if label in labels else DISAPPEARED)
            rows.append({TRACK: label, "timepoint": timepoint, "lesion": label if label in labels else pd.NA,
                         "status": status})
        seen |= labels
    return pd.DataFrame(rows).astype({"lesion": "Int64"})


@dataclass(frozen=True)
class PatientScans:
    """One patient's CT timepoints in date order (the baseline first) and what the tracking job reads of each."""

    patient: str
    days: dict[str, int]  # timepoint -> days since baseline
    maps: dict[str, Path]  # timepoint -> CT lesion map
    tables: dict[str, Path]  # timepoint -> CT lesion table
    transforms: dict[str, Path]  # follow-up -> TRANSFORM
    cts: dict[str, Path] = field(default_factory=dict)  # timepoint -> CT image (the QC picture)

    @property
    def baseline(self) -> str:
        return next(iter(self.days))


def _values(scans: PatientScans) -> pd.DataFrame:
    """Each lesion's values from its scan's CT lesion table; no diameters for a lesion the scan range cuts (the
    table's long axis of it is a lower bound): RECIST cannot measure it there (NE)."""
    parts = []
    for timepoint, path in scans.tables.items():
        table = read_tsv(path, dtype={"patient_id": str, "timepoint": str, "site": str})
        cut = table["status"] == TRUNCATED
        table.loc[cut, ["long_axis_mm", "short_axis_mm"]] = np.nan
        parts.append(table[["lesion", *LESION_VALUES]].assign(timepoint=timepoint))
    return pd.concat(parts, ignore_index=True).astype({"lesion": "Int64"})


def patient_tracks(scans: PatientScans, labels: str = INDEPENDENT, gates: Gates | None = None,
                   read: Reader = read_image) -> pd.DataFrame:
    """The patient's tracks with each row's day and lesion values; with shared labels, the label tracks and
    ``registration_agrees`` (the share of follow-up lesions the registration match puts on the same track).
    ``read`` reads a lesion map (``track_job``'s reads each file once)."""
    baseline = scans.baseline
    followups = [(tp, (read(scans.maps[tp]), load_transform(scans.transforms[tp])))
                 for tp in scans.days if tp != baseline]
    tracks = track_patient(read(scans.maps[baseline]), followups, gates or Gates(), baseline)
    values = _values(scans)
    if labels == SHARED:
        agreement = shared_labels_agreement(tracks)
        tracks = label_tracks({tp: values[values["timepoint"] == tp] for tp in scans.days}, baseline)
        tracks["registration_agrees"] = agreement["share"]
    tracks = tracks.merge(values, on=["timepoint", "lesion"], how="left")
    tracks["site"] = tracks.groupby(TRACK)["site"].transform(lambda s: s.ffill().bfill())
    tracks.insert(0, "patient_id", scans.patient)
    tracks.insert(3, "day", tracks["timepoint"].map(scans.days))
    return tracks.sort_values(["day", TRACK], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class PetScan:
    """A PET timepoint for PERCIST: the SUV image, the CT lesion map and the segmentation folder (liver)."""

    suv: Path
    lesions: Path
    seg: Path


def percist_rows(tracks: pd.DataFrame, pets: dict[str, PetScan], sul_factor: float,
                 read: Reader = read_image) -> pd.DataFrame:
    """``percist.percist_table``'s input: per PET timepoint the hottest lesion's SULpeak, the liver reference (SUL)
    and the count of new tracks there."""
    from wbrad.response import percist

    rows = []
    for timepoint, scan in pets.items():
        suv, labels = read(scan.suv), read(scan.lesions)
        at = tracks[tracks["timepoint"] == timepoint]
        ids = sorted(int(k) for k in at["lesion"].dropna().unique())
        _, sulpeak = percist.hottest_sulpeak(suv, labels, ids, sul_factor)
        liver = percist.liver_reference(suv, read(mask_path(scan.seg, LIVER)), factor=sul_factor)
        rows.append({"timepoint": timepoint, "day": int(at["day"].iloc[0]), "sulpeak": sulpeak,
                     "liver_mean": liver.mean, "liver_sd": liver.sd, "new_lesions": int((at["status"] == NEW).sum())})
    return pd.DataFrame(rows)


def not_evaluable(patient: str, days: dict[str, int]) -> pd.DataFrame:
    """The response table of a patient without a baseline lesion: every follow-up NE (RECIST 1.1 and iRECIST)."""
    table = pd.DataFrame({"patient_id": patient, "timepoint": list(days), "day": list(days.values())})
    table["recist_category"] = table["irecist_category"] = [pd.NA] + [NE] * (len(days) - 1)
    return table


def patient_response(tracks: pd.DataFrame, pets: dict[str, PetScan], sul_factor: float | None,
                     days: dict[str, int], read: Reader = read_image) -> pd.DataFrame:
    """RECIST 1.1 and iRECIST per timepoint, PERCIST at the PET timepoints (when the baseline has a PET and the
    patient's weight and height are known); NE throughout without a baseline lesion."""
    from wbrad.response import irecist, percist  # the track job's only: the register job imports this module too

    if not (tracks["status"] == BASELINE).any():
        return not_evaluable(str(tracks["patient_id"].iloc[0]) if len(tracks) else "", days)
    table = irecist.irecist_table(tracks).rename(columns={"category": "recist_category"})
    if pets and sul_factor and tracks.loc[tracks["status"] == BASELINE, "timepoint"].iloc[0] in pets:
        pet = percist.percist_table(percist_rows(tracks, pets, sul_factor, read)).drop(columns=["day"])
        table = table.merge(pet.add_prefix("percist_").rename(columns={"percist_timepoint": "timepoint"}),
                            on="timepoint", how="left")
    table.insert(0, "patient_id", tracks["patient_id"].iloc[0])
    return table


def completed(scans: PatientScans, pets: dict[str, PetScan]) -> tuple[PatientScans, dict[str, PetScan]]:
    """The timepoints whose files are not failed placeholders (:mod:`wbrad.failures`): a failed follow-up is left out
    (logged), a failed baseline fails the patient's tracking (UpstreamFailed)."""
    def failure(tp: str):
        files = [scans.maps[tp], scans.tables[tp], scans.transforms.get(tp)]
        return next((f for p in files if p is not None and (f := integrity.failure_of(p)) is not None), None)

    failed = {tp: f for tp in scans.days if (f := failure(tp)) is not None}
    if scans.baseline in failed:
        raise UpstreamFailed(failed[scans.baseline], scans.maps[scans.baseline])
    for tp, f in failed.items():
        log.warning("%s: %s left out of tracking: its scan failed at %s: %s", scans.patient, tp, f.stage, f.reason)
    keep = [tp for tp in scans.days if tp not in failed]
    kept = PatientScans(scans.patient, {tp: scans.days[tp] for tp in keep}, {tp: scans.maps[tp] for tp in keep},
                        {tp: scans.tables[tp] for tp in keep},
                        {tp: t for tp, t in scans.transforms.items() if tp in keep},
                        {tp: ct for tp, ct in scans.cts.items() if tp in keep})
    ok_pets = {tp: p for tp, p in pets.items() if tp in keep and integrity.failure_of(p.suv) is None
               and integrity.failure_of(p.seg) is None}
    return kept, ok_pets


def track_job(scans: PatientScans, pets: dict[str, PetScan], body: dict, labels: str, gates: dict,
              out_tracks: Path, out_response: Path, out_qc: Path) -> None:
    """Rule ``track``: tracks.tsv, response.tsv and the tracking QC picture of one patient. ``body``: ``weight_kg,
    height_cm, sex`` from the registry (None where unknown) and ``lbm_formula``."""
    from wbrad.response import percist
    from wbrad.tracking.qc import draw_tracking

    scans, pets = completed(scans, pets)
    read = cache(read_image)  # the CT lesion maps of PET timepoints are read once, for tracks and PERCIST
    tracks = patient_tracks(scans, labels, Gates(**gates), read)
    known = all(body.get(k) is not None for k in ("weight_kg", "height_cm", "sex"))
    factor = (percist.sul_factor(body["weight_kg"], body["height_cm"], body["sex"], body.get("lbm_formula", "james"))
              if known else None)
    write_tsv(tracks, out_tracks)
    draw_tracking(scans.cts, scans.maps, scans.transforms, tracks, out_qc, read)
    response = patient_response(tracks, pets, factor, scans.days, read)
    write_tsv(response.assign(patient_id=scans.patient), out_response)
    log.info("%s: %d tracks over %d timepoints -> %s", scans.patient, tracks[TRACK].nunique(), len(scans.days),
             out_tracks)
