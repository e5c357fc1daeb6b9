"""Which scans the workflow's robustness rules perturb (config ``robustness:``), as plain functions of the config
and the manifest, so that ``rules/robustness.smk`` holds rules only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wbrad import study


def enabled(settings: Mapping[str, Any] | None) -> bool:
    """Robustness is on when the block is there with ``perturbations`` above 0."""
    return bool(settings) and int(settings.get("perturbations", 0)) > 0


def scan_tables(settings: Mapping[str, Any] | None, lesions: Mapping[tuple[str, str, str], str],
                baseline: str) -> list[str]:
    """The per-scan tables (``study.ROBUSTNESS_SCAN``) of the configured timepoints (default: ``baseline``) and
    modalities (default CT), for scans whose CT has a lesion map; ``lesions`` maps every manifest key
    ``(patient, timepoint, modality)`` to its lesions column (empty: not contoured). None when robustness is off."""
    if not enabled(settings):
        return []
    chosen = list(settings.get("timepoints") or [baseline])
    modalities = [study.modality(m) for m in settings.get("modalities") or [study.CT]]
    return [
        study.path(study.ROBUSTNESS_SCAN, patient=p, timepoint=tp, modality=study.file_modality(m))
        for (p, tp, m) in sorted(lesions)
        if tp in chosen and m in modalities and lesions.get((p, tp, study.CT))
    ]


def cohort_outputs(tables: list[str]) -> list[str]:
    """robustness.tsv and its plot when a scan is perturbed, else nothing."""
    return [study.ROBUSTNESS, study.ROBUSTNESS_PLOT] if tables else []


def chain_settings(settings: Mapping[str, Any] | None) -> dict[str, int]:
    """The ``perturb.Chain`` arguments of the config block."""
    settings = settings or {}
    return {"n": int(settings.get("perturbations", 0)), "seed": int(settings.get("seed", 0))}


def retest_tables(settings: Mapping[str, Any] | None, lesions: Mapping[tuple[str, str, str], str],
                  baseline: str) -> list[str]:
    """The lesion tables (``study.LESION_TABLE``) of the baseline and the ``retest`` timepoint (config
    ``robustness.retest``) of every patient contoured at both, per configured modality; none without ``retest``
    or when robustness is off."""
    retest = (settings or {}).get("retest")
    if not enabled(settings) or not retest:
        return []
    modalities = [study.modality(m) for m in settings.get("modalities") or [study.CT]]
    patients = sorted({p for (p, _, _) in lesions})
    return [
        study.path(study.LESION_TABLE, patient=p, timepoint=tp, modality=study.file_modality(m))
        for p in patients
        for m in modalities
        if all(lesions.get((p, tp, study.CT)) and (p, tp, m) in lesions for tp in (baseline, retest))
        for tp in (baseline, retest)
    ]


def retest_outputs(tables: list[str]) -> list[str]:
    """robustness_retest.tsv and the agreement with the perturbation ICC when a patient has a retest, else nothing."""
    return [study.ROBUSTNESS_RETEST, study.ROBUSTNESS_AGREEMENT] if tables else []
