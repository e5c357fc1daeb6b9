"""Rule convert_pet: a PET to SUV on its own grid and on the CT grid."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.convert.run import convert_pet
from wbrad.workflow import run_scan

run_scan(
    snakemake,
    convert_pet,
    image=snakemake.input.image,
    ct=snakemake.input.ct,
    out_pet=snakemake.output.pet,
    out_pet_ct=snakemake.output.pet_ct,
    provenance=snakemake.output.provenance,
    patient=snakemake.wildcards.patient,
    timepoint=snakemake.wildcards.timepoint,
    suv=snakemake.params.suv,
    slice_gap_tolerance=snakemake.params.slice_gap_tolerance,
)
