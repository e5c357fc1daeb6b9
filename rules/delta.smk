# Stage 4, delta-radiomics: per patient, lesion aggregates per timepoint and their change from baseline, and the change
# of every tracked lesion (tracks.tsv of rules/track.smk).


rule delta:
    input:
        tables=lambda w: lesion_tables(w.patient),
        tracks=lambda w: [path(TRACKS, patient=w.patient)] if w.patient in TRACKED_PATIENTS else [],
    output:
        aggregates=AGGREGATES,
        delta=DELTA,
        delta_lesions=DELTA_LESIONS,
    log:
        "logs/delta/{patient}.log",
    benchmark:
        "logs/benchmark/delta/{patient}.tsv"
    conda:
        "../envs/radiomics.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        scans=lambda w: lesion_scans(w.patient),
        baseline=BASELINE,
        scan_dates=lambda w: {tp: scan_date(w.patient, tp) for tp in timepoints(w.patient)},
    script:
        "../scripts/delta.py"
