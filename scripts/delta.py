"""Rule delta: one patient's lesion aggregates per timepoint and their change from baseline."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.delta.run import patient_delta
from wbrad.workflow import optional_input, run_scan

run_scan(
    snakemake,
    patient_delta,
    upstream=False,  # failed scans are left out, not passed on
    patient=snakemake.wildcards.patient,
    lesion_tables={
        (tp, modality): path
        for (tp, modality), path in zip(snakemake.params.scans, snakemake.input.tables, strict=True)
    },
    scan_dates=dict(snakemake.params.scan_dates),
    baseline=snakemake.params.baseline,
    out_aggregates=snakemake.output.aggregates,
    out_delta=snakemake.output.delta,
    out_delta_lesions=snakemake.output.delta_lesions,
    tracks=optional_input(snakemake, "tracks"),
)
