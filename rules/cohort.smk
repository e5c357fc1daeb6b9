# Stage 5, cohort: one row per registry patient (clinical data, body composition, lesion aggregates, deltas, PET
# tumour burden, lesion response), and exclusions.tsv: every scan or patient left out, with stage and reason.


rule cohort:
    input:
        registry=config["registry"],
        bodycomp=baseline_bodycomp(),
        aggregates=expand(AGGREGATES, patient=PATIENTS),
        deltas=expand(DELTA, patient=PATIENTS),
        burden=burden_tables(),
        tracks=expand(TRACKS, patient=TRACKED_PATIENTS),
        responses=expand(RESPONSE, patient=TRACKED_PATIENTS),
        scan_tables=scan_tables(),
    output:
        cohort=report(COHORT, category="Cohort"),
        dictionary=report(DICTIONARY, category="Cohort"),
        exclusions=report(EXCLUSIONS, category="Cohort"),
        agreement=report(RESPONSE_AGREEMENT, category="Cohort"),
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
        baseline_dates={p: scan_date(p, BASELINE) for p in TRACKED_PATIENTS},
        scanners=baseline_scanners(),
        registry_format=config["registry_format"],
        exclusions=MANIFEST_EXCLUSIONS,
    script:
        "../scripts/cohort.py"
