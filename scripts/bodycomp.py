"""Rule bodycomp: L3 muscle and fat, organ volumes, bone density, flags and a QC picture for one scan."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.bodycomp.cutoffs import Body
from wbrad.bodycomp.run import measure, settings_from
from wbrad.workflow import run_scan

run_scan(
    snakemake,
    measure,
    ct=snakemake.input.ct,
    seg=snakemake.input.seg,
    body=Body(**snakemake.params.body),
    patient=snakemake.wildcards.patient,
    timepoint=snakemake.wildcards.timepoint,
    out_tsv=snakemake.output.table,
    qc_png=snakemake.output.qc,
    settings=settings_from(snakemake.params.settings, snakemake.input.cutoffs),
)
