"""Rule burden_mip: the coronal MIP of one PET scan with its detected lesions and excluded organs outlined."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.burden.mip import draw_mip
from wbrad.workflow import run_scan

run_scan(
    snakemake,
    draw_mip,
    pet=snakemake.input.pet,
    labels=snakemake.input.labels,
    excluded=snakemake.input.excluded,
    table=snakemake.input.table,
    tag=f"{snakemake.wildcards.patient} {snakemake.wildcards.timepoint}",
    out_png=snakemake.output.mip,
)
