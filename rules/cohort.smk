# Stage 5, cohort: one row per registry patient (clinical data, body composition, lesion aggregates, deltas).


rule cohort:
    input:
        registry=config["registry"],
        bodycomp=[f"{RESULTS}/{p}/{BASELINE}/bodycomp.tsv" for p in PATIENTS if BASELINE in timepoints(p)],
        aggregates=expand("results/{patient}/aggregates.tsv", patient=PATIENTS),
        deltas=expand("results/{patient}/delta.tsv", patient=PATIENTS),
    output:
        cohort=report("results/cohort/cohort.tsv", category="Cohort"),
        dictionary=report("results/cohort/dictionary.tsv", category="Cohort"),
    params:
        baseline=BASELINE,
        followup=FOLLOWUP,
    log:
        "logs/cohort.log",
    benchmark:
        "logs/benchmark/cohort.tsv",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/modelling.yaml"
    script:
        "../scripts/cohort.py"
