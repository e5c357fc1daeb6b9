# Stage 4, delta-radiomics: per patient, lesion aggregates per timepoint and their change from baseline.


rule delta:
    input:
        tables=lambda w: lesion_tables(w.patient),
    output:
        aggregates="results/{patient}/aggregates.tsv",
        delta="results/{patient}/delta.tsv",
        delta_lesions="results/{patient}/delta_lesions.tsv",
    params:
        scan_dates=lambda w: {tp: scan_date(w.patient, tp) for tp in timepoints(w.patient)},
    log:
        "logs/delta/{patient}.log",
    benchmark:
        "logs/benchmark/delta/{patient}.tsv",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/radiomics.yaml"
    script:
        "../scripts/delta.py"
