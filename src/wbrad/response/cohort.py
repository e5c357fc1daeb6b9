"""Per-patient response columns of the cohort table, from every patient's tracks.tsv and response.tsv (rule track).

``COLUMNS`` declares them once (the data dictionary reads it). Image-derived PFS follows iRECIST (Seymour et al.,
Lancet Oncol 2017): progression is dated at the iUPD that a later assessment confirmed (iCPD); death without it is an
event at ``os_days``; otherwise the patient is censored at the last tracked scan. The per-lesion shares describe the
heterogeneity of response between a patient's lesions at the cohort's follow-up: of the tracks seen at baseline, the
share whose RECIST measure (short axis of a node, long axis otherwise) grew by >= 20 % and >= 5 mm, and the share that
shrank by >= 30 % or disappeared (RECIST 1.1's thresholds applied to single lesions), of the tracks measured at both
scans (a lesion the scan range cuts is not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbrad.columns import Column
from wbrad.response import irecist, recist
from wbrad.response.vocabulary import BASELINE, IRECIST_CATEGORIES, NEW, NODE, RECIST_CATEGORIES

COLUMNS = (
    Column("recist_bor", "category", "best overall response, RECIST 1.1 from the lesion tracks (unconfirmed; "
           + ", ".join(RECIST_CATEGORIES) + ")"),
    Column("irecist_bor", "category", "best overall response, iRECIST from the lesion tracks ("
           + ", ".join(IRECIST_CATEGORIES) + ")"),
    Column("irecist_progression_days", "days", "days from therapy start to the iUPD that a later scan confirmed "
           "(iCPD); NA without confirmed progression"),
    Column("ipfs_days", "days", "image-derived PFS: days from therapy start to confirmed progression (iRECIST), "
           "death, or the last tracked scan"),
    Column("ipfs_event", "0/1", "1: confirmed progression (iRECIST) or death; 0: censored at the last tracked scan"),
    Column("tracked_lesions", "n", "lesions tracked from baseline"),
    Column("tracked_new_lesions", "n", "new lesions (tracks born after baseline) at the follow-up"),
    Column("tracked_progressing_share", "fraction", "share of baseline lesions whose RECIST measure grew >= 20 % "
           "and >= 5 mm at the follow-up"),
    Column("tracked_responding_share", "fraction", "share of baseline lesions that shrank >= 30 % or disappeared "
           "at the follow-up"),
    Column("tracked_volume_rel_median", "fraction", "median relative volume change of the baseline lesions at the "
           "follow-up (disappeared: -1)"),
    Column("tracked_volume_rate_median", "ml/day", "median volume change per day of the baseline lesions at the "
           "follow-up"),
)
NAMES = [c.name for c in COLUMNS]


def _measure(rows: pd.DataFrame) -> pd.Series:
    """Per track: the RECIST measure summed over its rows (fragments), 0 where it disappeared, NaN where a row is
    seen but not measured (a lesion the scan range cuts)."""
    value = rows["short_axis_mm"].where(rows["site"] == NODE, rows["long_axis_mm"])
    value = value.mask(rows["lesion"].isna(), 0.0)
    return value.groupby(rows["track"]).sum(min_count=1).where(value.isna().groupby(rows["track"]).sum() == 0)


def _volume(rows: pd.DataFrame) -> pd.Series:
    return rows["volume_ml"].fillna(0.0).groupby(rows["track"]).sum()


def lesion_shares(tracks: pd.DataFrame, followup: str) -> dict[str, float]:
    """The per-lesion columns of one patient at ``followup`` (NA when the patient has no such scan)."""
    base = tracks[tracks["status"] == BASELINE]
    later = tracks[tracks["timepoint"] == followup]
    out = dict.fromkeys(NAMES[5:], np.nan)
    out["tracked_lesions"] = float(base["track"].nunique())
    if later.empty or base.empty:
        return out
    before = _measure(base)
    after = _measure(later).reindex(before.index)
    change = (after - before)[before.index.isin(later["track"])].dropna()  # measured at both scans
    before = before[change.index]
    out["tracked_new_lesions"] = float((later["status"] == NEW).sum())
    if len(change):
        out["tracked_progressing_share"] = float(((change >= 0.2 * before) & (change >= 5.0)).mean())
        out["tracked_responding_share"] = float((change <= -0.3 * before).mean())
    v0 = _volume(base)
    v1 = _volume(later).reindex(v0.index).fillna(0.0)
    days = float(later["day"].iloc[0])
    out["tracked_volume_rel_median"] = float(((v1 - v0) / v0.where(v0 > 0)).median())
    out["tracked_volume_rate_median"] = float(((v1 - v0) / days).median()) if days > 0 else np.nan
    return out


def patient_response(response: pd.DataFrame, start_days: float, os_days: float, os_event: float) -> dict:
    """Best overall responses and image-derived PFS of one patient; ``start_days``: therapy start to baseline scan."""
    table = response.rename(columns={"recist_category": "category"})
    confirmed = irecist.confirmed_progression(response)
    progression = start_days + float(confirmed["iupd_day"]) if confirmed else np.nan
    last = start_days + float(response["day"].max())
    if confirmed:
        ipfs, event = progression, 1
    elif os_event == 1 and not np.isnan(os_days):
        ipfs, event = os_days, 1
    else:
        ipfs, event = last, 0
    return {"recist_bor": recist.best_overall_response(table), "irecist_bor": irecist.best_overall_response(response),
            "irecist_progression_days": progression, "ipfs_days": ipfs, "ipfs_event": event}


def response_columns(registry: pd.DataFrame, tracks: dict[str, pd.DataFrame], responses: dict[str, pd.DataFrame],
                     baseline_dates: dict[str, str], followup: str) -> pd.DataFrame:
    """``COLUMNS`` per patient (indexed by ``patient_id``) for the patients with tracks."""
    by_patient = registry.set_index("patient_id")
    rows = {}
    for patient, table in tracks.items():
        clinical = by_patient.loc[patient]
        start = (pd.Timestamp(baseline_dates[patient]) - pd.Timestamp(clinical["therapy_start"])).days
        rows[patient] = {**patient_response(responses[patient], float(start), float(clinical.get("os_days", np.nan)),
                                            float(clinical.get("os_event", np.nan))),
                         **lesion_shares(table, followup)}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=NAMES)
    out.index.name = "patient_id"
    return out.astype({"ipfs_event": "Int64", "tracked_lesions": "Int64", "tracked_new_lesions": "Int64"})


def agreement(cohort: pd.DataFrame, registry_column: str = "best_response") -> pd.DataFrame:
    """Confusion table of the image-derived best overall response (RECIST 1.1) against the registry's: one row per
    pair of categories with its count (``registry, image, n``), patients with both only."""
    both = cohort[[registry_column, "recist_bor"]].dropna() if registry_column in cohort else pd.DataFrame()
    if both.empty:
        return pd.DataFrame(columns=["registry", "image", "n"])
    counts = both.groupby([registry_column, "recist_bor"]).size().rename("n").reset_index()
    return counts.rename(columns={registry_column: "registry", "recist_bor": "image"})
