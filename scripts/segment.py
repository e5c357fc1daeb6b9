"""Rules segment and segment_batch: body masks in TotalSegmentator's layout from the configured backend; the
licence-free route adds the muscle and fat masks it derives. With a model backend, segment_batch segments all CTs of
a patient in one process and segment links each CT's masks into its own folder."""

from pathlib import Path

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.bodycomp.backends import segment_patient, segment_scan
from wbrad.workflow import optional_input, run_scan

if snakemake.rule == "segment_batch":
    run_scan(
        snakemake,
        segment_patient,
        upstream=False,  # a failed CT is left out of the batch; its own segment job records it
        segmentation=snakemake.params.segmentation,
        tissue_source=snakemake.params.tissue_source,
        cts=list(snakemake.input.cts),
        out_dir=snakemake.output.batch,
        timepoints=list(snakemake.params.timepoints),
    )
else:
    source = optional_input(snakemake, "source")
    batch = snakemake.params.batch
    run_scan(
        snakemake,
        segment_scan,
        segmentation=snakemake.params.segmentation,
        tissue_source=snakemake.params.tissue_source,
        ct=snakemake.input.ct,
        out_dir=snakemake.output.seg,
        source=None if batch else source,
        batch=Path(source) / snakemake.wildcards.timepoint if batch else None,
    )
