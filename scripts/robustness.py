"""Rule robustness: every lesion of one scan perturbed, its features extracted as in the lesion stage."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.robustness.perturb import Chain
from wbrad.robustness.run import perturb_scan
from wbrad.study import modality
from wbrad.workflow import run_scan

run_scan(
    snakemake,
    perturb_scan,
    image=snakemake.input.image,
    lesions=snakemake.input.lesions,
    params=snakemake.input.params,
    modality=modality(snakemake.wildcards.modality),
    patient=snakemake.wildcards.patient,
    timepoint=snakemake.wildcards.timepoint,
    out_tsv=snakemake.output.table,
    chain=Chain(**snakemake.params.chain),
    threads=snakemake.threads,
    border=snakemake.params.border,
)
