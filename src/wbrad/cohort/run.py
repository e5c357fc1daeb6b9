"""Entry point of the cohort stage: registry + per-patient imaging tables -> cohort.tsv and dictionary.tsv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wbrad.cohort.dictionary import data_dictionary
from wbrad.cohort.merge import (
    aggregate_columns,
    bodycomp_columns,
    burden_columns,
    delta_columns,
    landmark_days,
    merge_cohort,
    read_tables,
)
from wbrad.io import write_tsv
from wbrad.study import read_registry


def build_cohort(registry: Path, bodycomp: list[Path], aggregates: list[Path], deltas: list[Path], out_cohort: Path,
                 out_dictionary: Path, baseline: str = "baseline", followup: str = "fu1",
                 followup_dates: dict[str, str] | None = None, burden: list[Path] | None = None,
                 registry_format: dict[str, str] | None = None) -> None:
    """Write one row per registry patient (NA imaging where a patient has none) and its data dictionary.

    ``followup_dates`` (patient -> date of the ``followup`` CT) gives the column ``landmark_days``, after the
    registry's columns. ``burden`` (the burden.tsv of PET scans at ``baseline`` and ``followup``) gives the PET tumour
    burden columns, last; none without such tables. ``registry_format`` is the config's (how the registry CSV is
    written); the table holds its values as read (dates ``YYYY-MM-DD``).
    """
    clinical = read_registry(registry, fmt=registry_format).reset_index(drop=True)
    if followup_dates is not None:
        clinical = pd.concat([clinical, landmark_days(clinical, followup_dates)], axis=1)
    imaging = [
        bodycomp_columns(read_tables(bodycomp), baseline),
        aggregate_columns(read_tables(aggregates, ["patient_id", "timepoint", "modality"]), baseline),
        delta_columns(read_tables(deltas), followup),
    ]
    if burden:
        imaging.append(burden_columns(read_tables(burden), baseline, followup))
    cohort = merge_cohort(clinical, imaging)
    write_tsv(cohort, out_cohort)
    write_tsv(data_dictionary(list(cohort.columns), baseline, followup), out_dictionary)
