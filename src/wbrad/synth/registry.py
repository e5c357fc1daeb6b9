"""Patients of the synthetic registry: clinical data, latent truths and survival drawn from a known Cox model."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm
from sksurv.metrics import concordance_index_censored

from wbrad.synth.lesions import Lesion, evolve, sample_baseline_lesions
from wbrad.synth.phantom import Anatomy, sample_anatomy

# Cox log hazard ratios per unit of each latent covariate; the last four have no effect. Strong enough (oracle C about
# 0.84) that a model fitted on 40 patients recovers most of the signal: the demo checks CV C within 0.1 of the oracle.
COEFFICIENTS: dict[str, dict[str, float]] = {
    "os": {"log_tumour_volume_ml": 0.675, "rel_change_fu1": 1.5, "l3_smi_cm2m2": -0.075, "log_ldh": 1.65, "ecog": 0.9,
           "age": 0.0, "sex_male": 0.0, "braf_mutant": 0.0, "therapy_ipi_nivo": 0.0},
    "pfs": {"log_tumour_volume_ml": 0.6, "rel_change_fu1": 2.1, "l3_smi_cm2m2": -0.045, "log_ldh": 1.35, "ecog": 0.675,
            "age": 0.0, "sex_male": 0.0, "braf_mutant": 0.0, "therapy_ipi_nivo": 0.0},
}
CENTRE = {"log_tumour_volume_ml": 2.0, "rel_change_fu1": 0.0, "l3_smi_cm2m2": 47.0, "log_ldh": math.log(230),
          "ecog": 0.6, "age": 64.0, "sex_male": 0.6, "braf_mutant": 0.45, "therapy_ipi_nivo": 0.45}
WEIBULL = {"os": (1.3, 440.0), "pfs": (1.1, 180.0)}  # shape, median days at the centre
CENSORING_DAYS = (180, 1460)  # uniform last contact
IRAE_LOGIT = {"any": {"intercept": -1.0, "therapy_ipi_nivo": 1.3, "age_per_10y": 0.2},
              "grade3_given_any": {"intercept": -1.0, "therapy_ipi_nivo": 1.0}}
FOLLOWUP_DAYS = 84
RESPONDER_SHARE = 0.35  # log volume change per 12 weeks: N(-1.2, 0.4) in responders, N(0.35, 0.4) otherwise


@dataclass(eq=False)
class Patient:
    """Everything drawn for one patient; images are rendered from it later."""

    pid: str
    clinical: dict
    anatomy: Anatomy
    lesions: list[Lesion]
    timepoints: dict[str, int]  # scan day relative to therapy start
    muscle_scale: dict[str, float]
    pet: bool
    latent: dict[str, float]
    linear_predictor: dict[str, float] = field(default_factory=dict)


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, stream])


def _clinical(rng: np.random.Generator) -> dict:
    sex = "M" if rng.random() < 0.6 else "F"
    height = rng.normal(177, 7) if sex == "M" else rng.normal(164, 6.5)
    bmi = float(np.clip(math.exp(rng.normal(math.log(25.5), 0.13)), 18, 34))
    start = dt.date(2018, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
    return {
        "age": round(float(np.clip(rng.normal(64, 12), 25, 90)), 1), "sex": sex,
        "height_cm": round(float(height), 1), "weight_kg": round(bmi * (height / 100) ** 2, 1),
        "ecog": int(rng.choice([0, 1, 2, 3], p=[0.52, 0.33, 0.12, 0.03])),
        "braf": "mutant" if rng.random() < 0.45 else "wildtype",
        "therapy": "ipi+nivo" if rng.random() < 0.45 else "anti-PD1", "therapy_start": start,
    }


def _covariates(clin: dict, latent: dict) -> dict[str, float]:
    return {**latent, "ecog": clin["ecog"], "age": clin["age"], "sex_male": float(clin["sex"] == "M"),
            "braf_mutant": float(clin["braf"] == "mutant"), "therapy_ipi_nivo": float(clin["therapy"] == "ipi+nivo")}


def linear_predictor(covariates: dict[str, float], endpoint: str) -> float:
    return sum(b * (covariates[k] - CENTRE[k]) for k, b in COEFFICIENTS[endpoint].items())


def _weibull_time(u: float, lp: float, endpoint: str) -> float:
    """Inverse of S(t) = exp(-(t / scale) ** shape * exp(lp)) at S = u."""
    shape, median = WEIBULL[endpoint]
    scale = median / math.log(2) ** (1 / shape)
    return scale * (-math.log(u) / math.exp(lp)) ** (1 / shape)


def draw_patient(seed: int, index: int, pet: bool) -> Patient:
    """Draw one patient (``P{index+1:03d}``); the same seed and index always give the same patient."""
    clin = _clinical(_rng(seed, index, 0))
    anat = sample_anatomy(_rng(seed, index, 1), clin["sex"], clin["height_cm"], clin["weight_kg"], clin["age"])
    rng = _rng(seed, index, 2)
    responder = rng.random() < RESPONDER_SHARE
    growth = float(np.clip(rng.normal(-1.2, 0.4) if responder else rng.normal(0.35, 0.4), -2.0, 1.0))
    lesions = sample_baseline_lesions(rng, growth, anat.sat_mm)
    log_volume = math.log(sum(le.volume_mm3("baseline") for le in lesions) / 1000)
    ldh = math.exp(math.log(210) + 0.25 * (log_volume - CENTRE["log_tumour_volume_ml"]) + rng.normal(0, 0.35))
    clin["ldh"] = round(ldh, 1)
    latent = {
        "log_tumour_volume_ml": log_volume,
        "rel_change_fu1": math.exp(growth) - 1,
        "l3_smi_cm2m2": anat.l3_muscle_area_mm2() / 100 / (clin["height_cm"] / 100) ** 2,
        "log_ldh": math.log(ldh),
    }
    cov = _covariates(clin, latent)
    lp = {e: linear_predictor(cov, e) for e in COEFFICIENTS}
    srng = _rng(seed, index, 3)
    z1, z2 = srng.normal(size=2)
    u_os, u_pfs = norm.cdf(z1), norm.cdf(0.6 * z1 + 0.8 * z2)  # correlated, each marginally Cox
    t_os, t_pfs = _weibull_time(u_os, lp["os"], "os"), _weibull_time(u_pfs, lp["pfs"], "pfs")
    censor = srng.uniform(*CENSORING_DAYS)
    os_days = max(1, int(min(t_os, censor)))
    clin.update(
        os_days=os_days,
        os_event=int(t_os <= censor),
        pfs_days=max(1, int(min(t_pfs, t_os, censor))),
        pfs_event=int(min(t_pfs, t_os) <= censor),
    )
    timepoints = _schedule(srng, os_days)
    baseline = timepoints["baseline"]
    followups = [(tp, float(day - baseline)) for tp, day in timepoints.items() if tp != "baseline"]
    lesions = evolve(rng, lesions, followups, growth, anat.sat_mm)
    rate = min(srng.normal(-0.025, 0.03), 0.015)
    muscle = {
        tp: float(np.clip(math.exp(rate * (day - baseline) / FOLLOWUP_DAYS), 0.75, 1.05))
        for tp, day in timepoints.items()
    }
    clin["best_response"] = best_response(lesions, "fu1" if "fu1" in timepoints else None)
    clin.update(_irae(srng, clin))
    return Patient(f"P{index + 1:03d}", clin, anat, lesions, timepoints, muscle, pet, latent, lp)


def _schedule(rng: np.random.Generator, os_days: int) -> dict[str, int]:
    """Baseline 3-28 days before therapy; follow-ups about every 12 weeks, none after the OS time."""
    days = {"baseline": -int(rng.integers(3, 29))}
    planned = int(rng.choice([1, 2, 3], p=[0.3, 0.35, 0.35]))
    for k in range(1, planned + 1):
        day = FOLLOWUP_DAYS * k + int(rng.integers(-7, 8))
        if day >= os_days:
            if k == 1 and 0.8 * os_days >= 21:  # an early scan before an early death or loss
                days["fu1"] = int(0.8 * os_days)
            break
        days[f"fu{k}"] = day
    return days


def best_response(lesions: list[Lesion], timepoint: str | None) -> str:
    """RECIST-like on the sum of volumes: PR at -65.7 % (30 % in diameter), PD at +72.8 % (20 %) or new lesions."""
    if timepoint is None:
        return "PD"
    baseline = sum(le.volume_mm3("baseline") for le in lesions if "baseline" in le.scale)
    followup = sum(le.volume_mm3(timepoint) for le in lesions if timepoint in le.scale and "baseline" in le.scale)
    if any(timepoint in le.scale and "baseline" not in le.scale for le in lesions):
        return "PD"
    change = followup / baseline - 1
    if followup == 0:
        return "CR"
    return "PR" if change <= -0.657 else "PD" if change >= 0.728 else "SD"


def _irae(rng: np.random.Generator, clin: dict) -> dict[str, int]:
    ipi = float(clin["therapy"] == "ipi+nivo")
    a, g = IRAE_LOGIT["any"], IRAE_LOGIT["grade3_given_any"]
    p_any = 1 / (
        1 + math.exp(-(a["intercept"] + a["therapy_ipi_nivo"] * ipi + a["age_per_10y"] * (clin["age"] - 64) / 10))
    )
    p_g3 = 1 / (1 + math.exp(-(g["intercept"] + g["therapy_ipi_nivo"] * ipi)))
    anyae = rng.random() < p_any
    return {"irae_any": int(anyae), "irae_grade3": int(anyae and rng.random() < p_g3)}


def draw_patients(n_patients: int, seed: int = 0, pet_share: float = 1 / 3) -> list[Patient]:
    """The registry's patients without images: fast, for the survival model's tests and for write_cohort."""
    pet = set(np.random.default_rng([seed, 10**6]).permutation(n_patients)[: round(pet_share * n_patients)].tolist())
    return [draw_patient(seed, i, i in pet) for i in range(n_patients)]


REGISTRY_COLUMNS = [
    "patient_id",
    "age",
    "sex",
    "height_cm",
    "weight_kg",
    "ecog",
    "ldh",
    "braf",
    "therapy",
    "therapy_start",
    "os_days",
    "os_event",
    "pfs_days",
    "pfs_event",
    "best_response",
    "irae_any",
    "irae_grade3",
]


def registry_table(patients: list[Patient]) -> pd.DataFrame:
    rows = [{"patient_id": p.pid, **p.clinical} for p in patients]
    table = pd.DataFrame(rows)
    table["therapy_start"] = table["therapy_start"].map(lambda d: d.isoformat())
    return table[REGISTRY_COLUMNS]


def oracle_cindex(patients: list[Patient]) -> dict[str, float | None]:
    """Harrell's C of the true linear predictor against the observed OS and PFS; None where it is undefined (fewer
    than two patients, or no event)."""
    out = {}
    for e in ("os", "pfs"):
        event = np.array([p.clinical[f"{e}_event"] for p in patients], bool)
        time = np.array([p.clinical[f"{e}_days"] for p in patients], float)
        risk = np.array([p.linear_predictor[e] for p in patients])
        defined = len(patients) >= 2 and event.any()
        out[e] = float(concordance_index_censored(event, time, risk)[0]) if defined else None
    return out
