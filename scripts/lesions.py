"""Rule lesions: pyradiomics features of every lesion of one scan (CT or PET)."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.lesions.pet import Delineation
from wbrad.lesions.run import extract_scan
from wbrad.study import modality
from wbrad.workflow import optional_input, run_scan

run_scan(
    snakemake,
    extract_scan,
    image=snakemake.input.image,
    lesions=snakemake.input.lesions,
    params=snakemake.input.params,
    modality=modality(snakemake.wildcards.modality),
    patient=snakemake.wildcards.patient,
    timepoint=snakemake.wildcards.timepoint,
    out_tsv=snakemake.output.table,
    threads=snakemake.threads,
    seg=snakemake.input.seg,
    pet=optional_input(snakemake, "pet"),
    delineation=Delineation(**snakemake.params.delineation),
    shell_mm=snakemake.params.site_shell_mm,
    border=snakemake.params.border,
)
