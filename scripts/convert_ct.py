"""Rule convert_ct: a CT and its lesion label map to canonical NIfTI."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.convert.run import convert_ct
from wbrad.workflow import optional_input, run_scan

run_scan(
    snakemake,
    convert_ct,
    image=snakemake.input.image,
    lesions=optional_input(snakemake, "lesions"),
    out_ct=snakemake.output.ct,
    out_lesions=snakemake.output.lesions,
    provenance=snakemake.output.provenance,
    patient=snakemake.wildcards.patient,
    timepoint=snakemake.wildcards.timepoint,
    roi_pattern=snakemake.params.roi_pattern,
    slice_gap_tolerance=snakemake.params.slice_gap_tolerance,
)
