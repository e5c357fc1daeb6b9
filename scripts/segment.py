"""Rule segment: body masks in TotalSegmentator's layout from the configured backend."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)
from wbrad.bodycomp.backends import configured_backend
from wbrad.workflow import optional_input, rule_logging

with rule_logging(snakemake):
    backend = configured_backend(snakemake.params.segmentation)
    backend.segment(ct=snakemake.input.ct, out_dir=snakemake.output.seg, source=optional_input(snakemake, "source"))
