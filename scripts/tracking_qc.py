"""Rule tracking_qc: baseline and registered follow-up side by side with their lesions' track ids."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.tracking.qc import draw_tracking
from wbrad.workflow import run_scan

run_scan(
    snakemake,
    draw_tracking,
    baseline_ct=snakemake.input.baseline,
    baseline_lesions=snakemake.input.baseline_lesions,
    followup_ct=snakemake.input.followup,
    followup_lesions=snakemake.input.followup_lesions,
    transform=snakemake.input.transform,
    tracks=snakemake.input.tracks,
    baseline=snakemake.params.baseline,
    timepoint=snakemake.wildcards.timepoint,
    out_png=snakemake.output.png,
)
