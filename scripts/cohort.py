"""Rule cohort: one row per patient with the data dictionary."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.cohort.run import build_cohort
from wbrad.workflow import rule_logging

with rule_logging(snakemake):
    build_cohort(
        registry=snakemake.input.registry,
        bodycomp=list(snakemake.input.bodycomp),
        aggregates=list(snakemake.input.aggregates),
        deltas=list(snakemake.input.deltas),
        out_cohort=snakemake.output.cohort,
        out_dictionary=snakemake.output.dictionary,
        baseline=snakemake.params.baseline,
        followup=snakemake.params.followup,
        followup_dates=dict(snakemake.params.followup_dates),
        burden=list(snakemake.input.burden),
        registry_format=dict(snakemake.params.registry_format),
        out_exclusions=snakemake.output.exclusions,
        out_agreement=snakemake.output.agreement,
        exclusions=[dict(row) for row in snakemake.params.exclusions],
        scan_tables=list(snakemake.input.scan_tables),
        scanners=dict(snakemake.params.scanners) or None,
        tracking={
            "tracks": list(snakemake.input.tracks),
            "responses": list(snakemake.input.responses),
            "baseline_dates": dict(snakemake.params.baseline_dates),
        },
    )
