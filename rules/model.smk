# Stage 6, outcome modelling: repeated cross-validated survival models per endpoint and feature set.


rule model:
    input:
        cohort="results/cohort/cohort.tsv",
    output:
        metrics=report("results/models/{endpoint}/metrics.tsv", category="Models", subcategory="{endpoint}"),
        metrics_json="results/models/{endpoint}/metrics.json",
        oof="results/models/{endpoint}/oof_risk.tsv",
        km=report(
            "results/models/{endpoint}/km.png",
            caption="../report/km.rst",
            category="Models",
            subcategory="{endpoint}",
        ),
        model="results/models/{endpoint}/model.joblib",
    params:
        settings=config["model"],
    log:
        "logs/model/{endpoint}.log",
    benchmark:
        "logs/benchmark/model/{endpoint}.tsv",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/modelling.yaml"
    script:
        "../scripts/model.py"
