"""Survival endpoints: the (event, time) target of an endpoint from the cohort table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sksurv.util import Surv


@dataclass(frozen=True)
class Endpoint:
    name: str
    time: str
    event: str


def endpoint_from_settings(name: str, settings: dict) -> Endpoint:
    """The endpoint ``name`` of the model settings' ``endpoints`` (only ``type: survival`` is supported)."""
    spec = settings.get("endpoints", {}).get(name)
    if spec is None:
        known = sorted(settings.get("endpoints", {}))
        raise KeyError(f"endpoint {name!r} is not in the model settings (known: {known})")
    if spec.get("type", "survival") != "survival":
        raise ValueError(f"endpoint {name!r}: type {spec['type']!r} is not supported (only 'survival')")
    return Endpoint(name, spec["time"], spec["event"])


def survival_target(cohort: pd.DataFrame, endpoint: Endpoint) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, y)``: which rows have a complete endpoint, and sksurv's structured ``y`` for those rows.

    Times must be >= 0 and events 0/1; anything else is an error naming the patients.
    """
    for column in (endpoint.time, endpoint.event):
        if column not in cohort:
            raise KeyError(f"endpoint {endpoint.name!r}: column {column!r} is not in the cohort table")
    time = pd.to_numeric(cohort[endpoint.time], errors="raise").to_numpy(dtype=float, na_value=np.nan)
    event = pd.to_numeric(cohort[endpoint.event], errors="raise").to_numpy(dtype=float, na_value=np.nan)
    keep = ~(np.isnan(time) | np.isnan(event))
    ids = cohort["patient_id"].to_numpy()
    bad = keep & ((time < 0) | ~np.isin(event, [0, 1]))
    if bad.any():
        raise ValueError(f"endpoint {endpoint.name!r}: negative time or event not 0/1 for patients {list(ids[bad])}")
    return keep, Surv.from_arrays(event=event[keep].astype(bool), time=time[keep])
