"""Entry point of the cohort stage: registry + per-patient imaging tables -> cohort.tsv, dictionary.tsv and
exclusions.tsv (the scans and patients left out, with stage and reason)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from wbrad import integrity
from wbrad.cohort.dictionary import data_dictionary
from wbrad.cohort.merge import (
    aggregate_columns,
    bodycomp_columns,
    burden_columns,
    delta_columns,
    landmark_days,
    merge_cohort,
    read_tables,
    scanner_column,
)
from wbrad.failures import Failure, exclusion_table
from wbrad.io import read_tsv, write_tsv
from wbrad.response.cohort import agreement, response_columns
from wbrad.study import read_registry

log = logging.getLogger(__name__)
COHORT_STAGE = "cohort"  # the stage of a registry patient left with no completed scan
NO_IMAGING = "no imaging values: no completed baseline or follow-up scan (left out of imaging feature sets)"


def completed(paths: Iterable[Path], failures: list[Failure]) -> list[Path]:
    """The ``paths`` that are not failed placeholders; the failures of the others are appended to ``failures``."""
    kept = []
    for path in paths:
        if (failure := integrity.failure_of(path)) is None:
            kept.append(path)
        else:
            log.warning("%s left out of the cohort: %s", path, failure)
            failures.append(failure)
    return kept


def without_imaging(clinical: pd.DataFrame, imaging: list[pd.DataFrame]) -> list[dict[str, str]]:
    """An exclusion row for each registry patient with no completed scan (no row in any imaging table)."""
    imaged = set().union(*(block.index for block in imaging))
    return [{"patient_id": p, "timepoint": "", "modality": "", "stage": COHORT_STAGE,
             "reason": NO_IMAGING}
            for p in clinical["patient_id"] if p not in imaged]


def response_block(clinical: pd.DataFrame, tracks: list[Path], responses: list[Path],
                   baseline_dates: dict[str, str], followup: str, failures: list[Failure]) -> pd.DataFrame:
    """``wbrad.response.cohort.COLUMNS`` of the patients whose tracks and response were written."""
    def by_patient(paths: list[Path]) -> dict[str, pd.DataFrame]:
        tables = (read_tsv(p, dtype={"patient_id": str, "timepoint": str}) for p in completed(paths, failures))
        return {str(t["patient_id"].iloc[0]): t for t in tables if len(t)}

    track_tables, response_tables = by_patient(tracks), by_patient(responses)
    both = {p: t for p, t in track_tables.items() if p in response_tables}
    return response_columns(clinical, both, response_tables, baseline_dates, followup)


def build_cohort(registry: Path, bodycomp: list[Path], aggregates: list[Path], deltas: list[Path], out_cohort: Path,
                 out_dictionary: Path, baseline: str = "baseline", followup: str = "fu1",
                 followup_dates: dict[str, str] | None = None, burden: list[Path] | None = None,
                 registry_format: dict[str, str] | None = None, out_exclusions: Path | None = None,
                 exclusions: list[dict[str, str]] | None = None, tracking: dict | None = None,
                 scan_tables: list[Path] | None = None, out_agreement: Path | None = None,
                 scanners: dict[str, str] | None = None) -> None:
    """Write one row per registry patient (NA imaging where a patient has none) and its data dictionary.

    Imaging tables that are failed placeholders (:mod:`wbrad.failures`) are left out; ``out_exclusions`` lists them,
    the ``exclusions`` made before any job ran (the manifest's missing files) and the patients left with no
    completed scan (``patient_id, timepoint, modality, stage, reason``); ``scan_tables`` (every scan's bodycomp and
    lesion tables) are read only for their failure records, so that a failed follow-up is listed too.
    ``out_agreement``: the image-derived best response against the registry's (``wbrad.response.cohort.agreement``).

    ``followup_dates`` (patient -> date of the ``followup`` CT) gives the column ``landmark_days``, after the
    registry's columns; ``scanners`` (patient -> the baseline CT's manifest ``scanner``) the column ``scanner``
    after it. ``burden`` (the burden.tsv of PET scans at ``baseline`` and ``followup``) gives the PET tumour
    burden columns; none without such tables. ``tracking`` (``tracks``, ``responses``: the patients' tracks.tsv and
    response.tsv, ``baseline_dates``: patient -> baseline CT date) gives the response columns, last.
    ``registry_format`` is the config's (how the registry CSV is
    written); the table holds its values as read (dates ``YYYY-MM-DD``).
    """
    clinical = read_registry(registry, fmt=registry_format).reset_index(drop=True)
    if followup_dates is not None:
        clinical = pd.concat([clinical, landmark_days(clinical, followup_dates)], axis=1)
    if scanners is not None:
        clinical = pd.concat([clinical, scanner_column(clinical, scanners)], axis=1)
    failures: list[Failure] = []
    imaging = [
        bodycomp_columns(read_tables(completed(bodycomp, failures)), baseline),
        aggregate_columns(read_tables(completed(aggregates, failures), ["patient_id", "timepoint", "modality"]),
                          baseline),
        delta_columns(read_tables(completed(deltas, failures)), followup),
    ]
    if burden:
        imaging.append(burden_columns(read_tables(completed(burden, failures)), baseline, followup))
    if tracking:
        imaging.append(response_block(clinical, tracking["tracks"], tracking["responses"],
                                      tracking["baseline_dates"], followup, failures))
    completed(scan_tables or [], failures)
    cohort = merge_cohort(clinical, imaging)
    write_tsv(cohort, out_cohort)
    if out_agreement is not None:
        write_tsv(agreement(cohort), out_agreement)
    write_tsv(data_dictionary(list(cohort.columns), baseline, followup), out_dictionary)
    if out_exclusions is not None:
        table = exclusion_table([*(exclusions or []), *failures, *without_imaging(clinical, imaging)])
        write_tsv(table, out_exclusions)
        log.log(logging.WARNING if len(table) else logging.INFO, "%d scans or patients left out: %s", len(table),
                out_exclusions)
