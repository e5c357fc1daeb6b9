"""Rule burden: PET tumour burden of one scan without contours (lesion map, lesion table, burden row, MIP picture)."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.burden.run import measure_burden, settings_from
from wbrad.workflow import run_scan

run_scan(
    snakemake,
    measure_burden,
    pet=snakemake.input.pet,
    seg=snakemake.input.seg,
    contours=snakemake.input.contours,
    params=snakemake.input.params,
    patient=snakemake.wildcards.patient,
    timepoint=snakemake.wildcards.timepoint,
    out_labels=snakemake.output.labels,
    out_excluded=snakemake.output.excluded,
    out_lesions=snakemake.output.lesions,
    out_table=snakemake.output.table,
    out_mip=snakemake.output.mip,
    settings=settings_from(snakemake.params.settings),
    contoured=snakemake.params.contoured,
    threads=snakemake.threads,
)
