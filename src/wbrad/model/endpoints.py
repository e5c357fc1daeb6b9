"""Endpoints from the config: survival ``(event, time)`` targets and binary targets, with an optional landmark."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sksurv.util import Surv


@dataclass(frozen=True)
class Endpoint:
    """``type: survival`` uses ``time`` and ``event``. ``type: binary`` is either ``column`` in ``positive``
    (e.g. best response in CR, PR), or an event before ``before_days`` of ``time`` (e.g. PFS under 12 months:
    1 for an event before, 0 when followed event-free beyond, missing when censored earlier)."""

    name: str
    time: str = ""
    event: str = ""
    type: str = "survival"
    column: str = ""
    positive: tuple = field(default=(1,))
    before_days: float | None = None

    @property
    def binary(self) -> bool:
        return self.type == "binary"


def endpoint_from_settings(name: str, settings: dict) -> Endpoint:
    """The endpoint ``name`` of the model settings' ``endpoints``."""
    spec = settings.get("endpoints", {}).get(name)
    if spec is None:
        known = sorted(settings.get("endpoints", {}))
        raise KeyError(f"endpoint {name!r} is not in the model settings (known: {known})")
    kind = spec.get("type", "survival")
    if kind == "survival":
        return Endpoint(name, spec["time"], spec["event"])
    if kind != "binary":
        raise ValueError(f"endpoint {name!r}: type {kind!r} is not supported (survival or binary)")
    if "column" in spec:
        return Endpoint(name, type="binary", column=spec["column"], positive=tuple(spec.get("positive", [1])))
    return Endpoint(name, spec["time"], spec["event"], type="binary", before_days=float(spec["before_days"]))


def missing_columns(endpoint: Endpoint, columns: list[str]) -> list[str]:
    """The columns ``endpoint`` reads that are not among ``columns`` (the cohort table's)."""
    needed = [endpoint.column] if endpoint.binary and endpoint.before_days is None else [endpoint.time, endpoint.event]
    return [c for c in needed if c not in set(columns)]


def empty_target(endpoint: Endpoint) -> np.ndarray:
    """A target of no patients, of the endpoint's kind."""
    return np.zeros(0, int) if endpoint.binary else Surv.from_arrays(event=np.zeros(0, bool), time=np.zeros(0))


def _numbers(cohort: pd.DataFrame, endpoint: Endpoint, *columns: str) -> list[np.ndarray]:
    for column in columns:
        if column not in cohort:
            raise KeyError(f"endpoint {endpoint.name!r}: column {column!r} is not in the cohort table")
    return [pd.to_numeric(cohort[c], errors="raise").to_numpy(dtype=float, na_value=np.nan) for c in columns]


def _time_event(cohort: pd.DataFrame, endpoint: Endpoint) -> tuple[np.ndarray, np.ndarray]:
    time, event = _numbers(cohort, endpoint, endpoint.time, endpoint.event)
    bad = ~np.isnan(time) & ~np.isnan(event) & ((time < 0) | ~np.isin(event, [0, 1]))
    if bad.any():
        ids = list(cohort["patient_id"].to_numpy()[bad])
        raise ValueError(f"endpoint {endpoint.name!r}: negative time or event not 0/1 for patients {ids}")
    return time, event


def survival_target(cohort: pd.DataFrame, endpoint: Endpoint) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, y)``: which rows have a complete endpoint, and sksurv's structured ``y`` for those rows.

    Times must be >= 0 and events 0/1; anything else is an error naming the patients.
    """
    time, event = _time_event(cohort, endpoint)
    keep = ~(np.isnan(time) | np.isnan(event))
    return keep, Surv.from_arrays(event=event[keep].astype(bool), time=time[keep])


def binary_target(cohort: pd.DataFrame, endpoint: Endpoint) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, y)`` with ``y`` 0/1 ints for the kept rows (see :class:`Endpoint` for the two kinds)."""
    if endpoint.before_days is None:
        if endpoint.column not in cohort:
            raise KeyError(f"endpoint {endpoint.name!r}: column {endpoint.column!r} is not in the cohort table")
        values = cohort[endpoint.column]
        keep = values.notna().to_numpy()
        positive = {str(p) for p in endpoint.positive}
        return keep, values[keep].astype(str).isin(positive).to_numpy().astype(int)
    time, event = _time_event(cohort, endpoint)
    early = (event == 1) & (time < endpoint.before_days)
    keep = early | (time >= endpoint.before_days)
    return keep, early[keep].astype(int)


def landmark(cohort: pd.DataFrame, endpoint: Endpoint, landmark_days: np.ndarray) -> tuple[pd.DataFrame, int]:
    """The cohort at a landmark: time origin moved to ``landmark_days`` (e.g. the follow-up scan), and patients
    without the event-free follow-up to the landmark (or without a landmark) left out, against immortal-time bias.

    Returns the shifted table and how many patients were left out.
    """
    time, _ = _time_event(cohort, endpoint)
    keep = ~np.isnan(landmark_days) & ~np.isnan(time) & (time > landmark_days)
    shifted = cohort[keep].copy()
    shifted[endpoint.time] = time[keep] - landmark_days[keep]
    return shifted.reset_index(drop=True), int((~keep).sum())
