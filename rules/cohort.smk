# Stage 5, cohort: one row per registry patient (clinical data, body composition, lesion aggregates, deltas, PET
# tumour burden).


rule cohort:
    input:
        registry=config["registry"],
        bodycomp=baseline_bodycomp(),
        aggregates=expand(AGGREGATES, patient=PATIENTS),
        deltas=expand(DELTA, patient=PATIENTS),
        burden=burden_tables(),
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
        registry_format=config["registry_format"],
    script:
        "../scripts/cohort.py"
