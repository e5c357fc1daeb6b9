"""Rule register: one follow-up CT registered onto the patient's baseline CT (the transform and its QC numbers)."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.tracking.register import Settings, register_followup
from wbrad.workflow import run_scan

run_scan(
    snakemake,
    register_followup,
    baseline_ct=snakemake.input.baseline,
    followup_ct=snakemake.input.followup,
    out_transform=snakemake.output.transform,
    out_quality=snakemake.output.quality,
    settings=Settings(threads=snakemake.threads),
)
