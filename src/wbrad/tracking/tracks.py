"""Tracks of one patient's lesions from baseline over every follow-up, and their agreement with shared labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk

from wbrad.tracking.lesions import Lesion, lesions_of, to_baseline
from wbrad.tracking.match import DEFAULT_GATES, Gates, match

TRACK_COLUMNS = ["track", "timepoint", "lesion", "status", "distance_mm", "overlap"]
FollowupMap = sitk.Image | tuple[sitk.Image, sitk.Transform]


def _union(parts: Sequence[Lesion]) -> Lesion:
    """The lesions of a split track taken together: voxels united, centroid volume-weighted."""
    weights = np.array([p.voxels for p in parts], float)
    centroid = np.average([p.centroid_mm for p in parts], axis=0, weights=weights)
    flat = np.unique(np.concatenate([p.flat for p in parts]))
    return Lesion(min(p.label for p in parts), centroid, int(flat.size), sum(p.volume_ml for p in parts), flat)


def _on_baseline(labels: FollowupMap, baseline: sitk.Image) -> sitk.Image:
    if isinstance(labels, tuple):
        return to_baseline(labels[0], baseline, labels[1])
    return labels


def _advance(state: dict[int, Lesion], links: pd.DataFrame, by_label: dict[int, Lesion]) -> pd.DataFrame:
    """Number the new lesions' tracks after the last id, and move each matched or split track to its lesion(s);
    merged and disappeared tracks keep their last known mask (so they can be told apart, or re-found, later)."""
    links = links.copy()
    new = links["status"] == "new"
    first = max(state, default=0) + 1
    links.loc[new, "track"] = np.arange(first, first + int(new.sum()))
    for row in links[new].itertuples():
        state[int(row.track)] = by_label[int(row.lesion)]
    for status, update in (("matched", lambda parts: parts[0]), ("split", _union)):
        for track, rows in links[links["status"] == status].groupby("track"):
            state[int(track)] = update([by_label[int(k)] for k in rows["lesion"]])
    return links


def track_patient(baseline_labels: sitk.Image, followups: Sequence[tuple[str, FollowupMap]],
                  gates: Gates = DEFAULT_GATES, baseline_timepoint: str = "baseline") -> pd.DataFrame:
    """Chain lesion matching over a patient's follow-ups, given in date order.

    ``followups``: ``(timepoint, label map)`` where the map is already on the baseline grid, or ``(timepoint,
    (label map, transform))`` with the transform from :func:`wbrad.tracking.register.register` (baseline point to
    follow-up point); the map is then resampled onto the baseline grid first.

    Each track's last known lesion is what the next follow-up is matched against (see
    :func:`wbrad.tracking.match.match`), so a lesion missed at one follow-up can be re-found at a later one with its
    baseline track id. Returns one row per (track, timepoint, lesion), sorted by timepoint (given order), track,
    lesion, with columns ``track`` (baseline lesions numbered 1..n in label order, new lesions numbered on in order
    of appearance), ``timepoint``, ``lesion`` (that scan's label; NA when ``disappeared``), ``status`` (``baseline``
    at baseline, otherwise one of :data:`wbrad.tracking.match.STATUSES`), ``distance_mm`` and ``overlap`` (NA at
    baseline and for ``new`` and ``disappeared``). A ``split`` track has one row per fragment at that timepoint; a
    ``merged`` lesion appears in the rows of every track it absorbed.
    """
    baseline = lesions_of(baseline_labels)
    state = {i: le for i, le in enumerate(baseline, start=1)}
    frames = [pd.DataFrame({"track": list(state), "timepoint": baseline_timepoint,
                            "lesion": [le.label for le in baseline], "status": "baseline",
                            "distance_mm": np.nan, "overlap": np.nan})]
    for timepoint, labels in followups:
        found = lesions_of(_on_baseline(labels, baseline_labels))
        links = _advance(state, match(state, found, baseline_labels, gates), {le.label: le for le in found})
        frames.append(links.assign(timepoint=timepoint).sort_values(["track", "lesion"], kind="stable"))
    out = pd.concat(frames, ignore_index=True)[TRACK_COLUMNS]
    return out.astype({"track": "int64", "lesion": "Int64"})


def _label_identity(rows: pd.DataFrame, first_seen: bool) -> tuple[set[int], bool]:
    """Registration tracks of one (timepoint, label), and whether they agree with the label's first appearance."""
    tracks = set(rows["track"].astype(int))
    return tracks, not first_seen or bool((rows["status"] == "new").all())


def shared_labels_agreement(tracks: pd.DataFrame) -> dict:
    """Where labels are shared across timepoints (config ``lesions.labels: shared``), the share of follow-up lesions
    whose registration track agrees with the label.

    By the labels, label ``k`` is one lesion at every scan: at its first scan it is that scan's lesion (at a
    follow-up: ``new``), and later it belongs to the track it got at its first scan. A follow-up lesion agrees when
    that track is among its registration tracks (a merged lesion keeps one of its tracks' labels), and, at its first
    scan after baseline, when the registration also calls it ``new``. Returns ``lesions``, ``agree``, ``share`` (NA
    without follow-up lesions) and ``disagree`` (``[timepoint, label]`` pairs).
    """
    order = list(dict.fromkeys(tracks["timepoint"]))
    found = tracks.dropna(subset=["lesion"])
    identity: dict[int, set[int]] = {}
    agree, disagree = 0, []
    for t_index, timepoint in enumerate(order):
        for label, rows in found[found["timepoint"] == timepoint].groupby("lesion"):
            label = int(label)
            registered, ok = _label_identity(rows, label not in identity)
            ok = ok and (label not in identity or bool(identity[label] & registered))
            identity.setdefault(label, registered)
            if t_index == 0:
                continue
            agree += ok
            disagree += [] if ok else [[timepoint, label]]
    n = agree + len(disagree)
    return {"lesions": n, "agree": agree, "share": agree / n if n else None, "disagree": disagree}
