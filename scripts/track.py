"""Rule track: one patient's lesions followed over its timepoints, and their RECIST 1.1, iRECIST and PERCIST
response, and their QC picture."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.tracking.run import PatientScans, PetScan, track_job
from wbrad.workflow import run_scan

days = dict(snakemake.params.days)
timepoints = list(days)
pets = snakemake.params.pet_timepoints
run_scan(
    snakemake,
    track_job,
    upstream=False,  # failed follow-ups are left out, not passed on
    scans=PatientScans(
        patient=snakemake.wildcards.patient,
        days=days,
        maps=dict(zip(timepoints, snakemake.input.maps, strict=True)),
        tables=dict(zip(timepoints, snakemake.input.tables, strict=True)),
        transforms=dict(zip(timepoints[1:], snakemake.input.transforms, strict=True)),
        cts=dict(zip(timepoints, snakemake.input.cts, strict=True)),
    ),
    pets={
        tp: PetScan(suv=suv, lesions=snakemake.input.maps[timepoints.index(tp)], seg=seg)
        for tp, suv, seg in zip(pets, snakemake.input.pets, snakemake.input.segs, strict=True)
    },
    body=dict(snakemake.params.body),
    labels=snakemake.params.labels,
    gates=dict(snakemake.params.gates),
    out_tracks=snakemake.output.tracks,
    out_response=snakemake.output.response,
    out_qc=snakemake.output.qc,
)
