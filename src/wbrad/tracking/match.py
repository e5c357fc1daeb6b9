"""Match the lesions of one follow-up (on the baseline grid) to the current tracks: gates, cost, statuses.

The method follows registration-based lesion matching on whole-body PET/CT (Huff et al., Phys Med Biol 2023): after
registration, a lesion is compared with each tracked lesion by centroid distance and by the overlap of their masks
dilated by a few millimetres, and a one-to-one assignment (``scipy.optimize.linear_sum_assignment``) pairs them
within gates. Lesions that coalesce or fragment are kept apart from the one-to-one assignment, as RECIST 1.1 asks
(Eisenhauer et al., Eur J Cancer 2009, appendix I "lesions that split or coalesce"): fragments of a split lesion are
summed into their track, and a coalesced lesion belongs to every track it absorbed (its diameter counts for one of
them and 0 for the others, a choice left to the response stage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from wbrad.tracking.lesions import Lesion, dilate

MATCH_COLUMNS = ["track", "lesion", "status", "distance_mm", "overlap"]
STATUSES = ("matched", "new", "disappeared", "merged", "split")
_INFEASIBLE = 1e6


@dataclass(frozen=True)
class Gates:
    """Settings of the matching.

    - ``max_distance_mm``: a track and a lesion whose centroids (baseline frame) lie further apart are never
      ``matched``.
    - ``min_overlap``: nor are they when the overlap of their dilated masks is below this (0: distance alone gates).
    - ``dilate_mm``: both masks are dilated by this many mm before the overlap, which absorbs registration error
      and lets a lesion that shrank still touch its track.
    - ``substantial``: an overlap at or above this links a track and a lesion for ``merged`` (one lesion, two or
      more tracks) and ``split`` (one track, two or more lesions), and makes a one-to-one pair feasible, whatever the
      centroid distance.
    - ``distance_weight``: the cost of a pair is ``distance_weight * distance / max_distance_mm + 1 - overlap``.

    The overlap is the intersection over the smaller of the two dilated masks, so a lesion that grew or shrank
    still overlaps its track fully.
    """

    max_distance_mm: float = 20.0
    min_overlap: float = 0.0
    dilate_mm: float = 3.0
    substantial: float = 0.5
    distance_weight: float = 1.0


DEFAULT_GATES = Gates()


def grid_of(reference: sitk.Image) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The ``[z, y, x]`` array shape and spacing of a grid."""
    return reference.GetSize()[::-1], reference.GetSpacing()[::-1]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0 or b.size == 0 or a[-1] < b[0] or b[-1] < a[0]:
        return 0.0
    return np.intersect1d(a, b, assume_unique=True).size / min(a.size, b.size)


def pair_measures(tracks: Sequence[Lesion], lesions: Sequence[Lesion], reference: sitk.Image,
                  dilate_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Centroid distance (mm) and dilated-mask overlap of every (track, lesion) pair, as two matrices."""
    shape, spacing = grid_of(reference)
    grown_t = [dilate(t.flat, shape, spacing, dilate_mm) for t in tracks]
    grown_l = [dilate(le.flat, shape, spacing, dilate_mm) for le in lesions]
    distance = np.array([[np.linalg.norm(t.centroid_mm - le.centroid_mm) for le in lesions] for t in tracks])
    overlap = np.array([[_overlap(a, b) for b in grown_l] for a in grown_t])
    return distance.reshape(len(tracks), len(lesions)), overlap.reshape(len(tracks), len(lesions))


def _groups(substantial: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(track indices, lesion indices) of each connected group of substantial overlaps with more than one member
    on a side."""
    n_t, n_l = substantial.shape
    t, le = np.nonzero(substantial)
    graph = coo_matrix((np.ones(t.size), (t, n_t + le)), shape=(n_t + n_l, n_t + n_l))
    _, comp = connected_components(graph, directed=False)
    out = []
    for c in np.unique(comp):
        members = np.flatnonzero(comp == c)
        ts, ls = members[members < n_t], members[members >= n_t] - n_t
        if len(ts) >= 1 and len(ls) >= 1 and (len(ts) > 1 or len(ls) > 1):
            out.append((ts, ls))
    return out


def _assign(distance: np.ndarray, overlap: np.ndarray, free_t: np.ndarray, free_l: np.ndarray,
            gates: Gates) -> list[tuple[int, int]]:
    """One-to-one pairs among the free tracks and lesions, within the gates or overlapping substantially (a lesion
    that grew on one side moves its centroid beyond the distance gate but still covers its track), at the least
    total cost."""
    if free_t.size == 0 or free_l.size == 0:
        return []
    d, o = distance[np.ix_(free_t, free_l)], overlap[np.ix_(free_t, free_l)]
    feasible = ((d <= gates.max_distance_mm) & (o >= gates.min_overlap)) | (o >= gates.substantial)
    cost = np.where(feasible, gates.distance_weight * np.minimum(d / gates.max_distance_mm, 1) + 1 - o, _INFEASIBLE)
    rows, cols = linear_sum_assignment(cost)
    return [(int(free_t[r]), int(free_l[c])) for r, c in zip(rows, cols, strict=True) if feasible[r, c]]


def _row(track, lesion, status: str, distance=np.nan, overlap=np.nan) -> dict:
    return {"track": track, "lesion": lesion, "status": status, "distance_mm": distance, "overlap": overlap}


def _group_rows(groups, substantial, ids, lesions, distance, overlap) -> list[dict]:
    rows = []
    for ts, ls in groups:
        status = "split" if len(ts) == 1 else "merged"
        rows += [_row(ids[t], lesions[le].label, status, distance[t, le], overlap[t, le])
                 for t in ts for le in ls if substantial[t, le]]
    return rows


def match(tracks: Mapping[int, Lesion], lesions: Sequence[Lesion], reference: sitk.Image,
          gates: Gates = DEFAULT_GATES) -> pd.DataFrame:
    """Match follow-up ``lesions`` (on ``reference``, the baseline grid) to ``tracks`` (track id -> its last known
    lesion on the same grid); one row per link, ``track, lesion, status, distance_mm, overlap``:

    - ``merged``: one lesion overlaps two or more tracks substantially; one row per such track, same lesion. A group
      where several tracks and several lesions overlap one another is also ``merged`` (every substantial link a row).
    - ``split``: one track overlaps two or more lesions substantially; one row per fragment, same track.
    - ``matched``: the one-to-one assignment of the remaining tracks and lesions within the gates, or overlapping
      substantially whatever their distance.
    - ``disappeared``: a track with no row above (``lesion`` NA); ``new``: a lesion with none (``track`` NA).
    """
    ids, tr = list(tracks), list(tracks.values())
    distance, overlap = pair_measures(tr, lesions, reference, gates.dilate_mm)
    substantial = overlap >= max(gates.substantial, gates.min_overlap)
    groups = _groups(substantial)
    rows = _group_rows(groups, substantial, ids, lesions, distance, overlap)
    used_t = {int(t) for ts, _ in groups for t in ts}
    used_l = {int(le) for _, ls in groups for le in ls}
    free_t = np.array([i for i in range(len(tr)) if i not in used_t], int)
    free_l = np.array([i for i in range(len(lesions)) if i not in used_l], int)
    pairs = _assign(distance, overlap, free_t, free_l, gates)
    rows += [_row(ids[t], lesions[le].label, "matched", distance[t, le], overlap[t, le]) for t, le in pairs]
    done_t = used_t | {t for t, _ in pairs}
    done_l = used_l | {le for _, le in pairs}
    rows += [_row(ids[t], pd.NA, "disappeared") for t in range(len(tr)) if t not in done_t]
    rows += [_row(pd.NA, lesions[le].label, "new") for le in range(len(lesions)) if le not in done_l]
    out = pd.DataFrame(rows, columns=MATCH_COLUMNS).astype({"track": "Int64", "lesion": "Int64"})
    return out.sort_values(["track", "lesion"], na_position="last", kind="stable").reset_index(drop=True)
