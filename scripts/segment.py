"""Rule segment: body masks in TotalSegmentator's layout from the configured backend; the licence-free route adds the
muscle and fat masks it derives."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.bodycomp.backends import segment_scan
from wbrad.workflow import optional_input, run_scan

run_scan(
    snakemake,
    segment_scan,
    segmentation=snakemake.params.segmentation,
    tissue_source=snakemake.params.tissue_source,
    ct=snakemake.input.ct,
    out_dir=snakemake.output.seg,
    source=optional_input(snakemake, "source"),
)
