# Stage 5, cohort: one row per registry patient (clinical data, body composition, lesion aggregates, deltas).


rule cohort:
    input:
        registry=config["registry"],
        bodycomp=baseline_bodycomp(),
        aggregates=expand(AGGREGATES, patient=PATIENTS),
        deltas=expand(DELTA, patient=PATIENTS),
    output:
        cohort=report(COHORT, category="Cohort"),
        dictionary=report(DICTIONARY, category="Cohort"),
    log:
        "logs/cohort.log",
    benchmark:
        "logs/benchmark/cohort.tsv"
    conda:
        "../envs/modelling.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        baseline=BASELINE,
        followup=FOLLOWUP,
        followup_dates=followup_dates(),
    script:
        "../scripts/cohort.py"
