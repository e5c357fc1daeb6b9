# Stage 6, outcome modelling: repeated nested cross-validated models per endpoint and feature set.
# Survival endpoints (rule model) and binary endpoints (rule model_binary) differ only in their plots.


rule model:
    input:
        cohort="results/cohort/cohort.tsv",
    output:
        metrics=report("results/models/{endpoint}/metrics.tsv", caption="../report/model_summary.rst",
                       category="Models", subcategory="{endpoint}"),
        metrics_json="results/models/{endpoint}/metrics.json",
        gains=report("results/models/{endpoint}/gains.tsv", caption="../report/gains.rst", category="Models",
                     subcategory="{endpoint}"),
        oof="results/models/{endpoint}/oof_risk.tsv",
        importances="results/models/{endpoint}/importances.tsv",
        calibration_table="results/models/{endpoint}/calibration.tsv",
        tdauc_table="results/models/{endpoint}/tdauc.tsv",
        km=report("results/models/{endpoint}/km.png", caption="../report/km.rst", category="Models",
                  subcategory="{endpoint}"),
        tdauc=report("results/models/{endpoint}/tdauc.png", caption="../report/tdauc.rst", category="Models",
                     subcategory="{endpoint}"),
        calibration=report("results/models/{endpoint}/calibration.png", caption="../report/calibration.rst",
                           category="Models", subcategory="{endpoint}"),
        model="results/models/{endpoint}/model.joblib",
    wildcard_constraints:
        endpoint=endpoints_of_type("survival"),
    params:
        settings=config["model"],
        landmark_days=landmark_days(),
    log:
        "logs/model/{endpoint}.log",
    benchmark:
        "logs/benchmark/model/{endpoint}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/modelling.yaml"
    script:
        "../scripts/model.py"


rule model_binary:
    input:
        cohort="results/cohort/cohort.tsv",
    output:
        metrics=report("results/models/{endpoint}/metrics.tsv", caption="../report/model_summary.rst",
                       category="Models", subcategory="{endpoint}"),
        metrics_json="results/models/{endpoint}/metrics.json",
        gains=report("results/models/{endpoint}/gains.tsv", caption="../report/gains.rst", category="Models",
                     subcategory="{endpoint}"),
        oof="results/models/{endpoint}/oof_risk.tsv",
        importances="results/models/{endpoint}/importances.tsv",
        roc=report("results/models/{endpoint}/roc.png", caption="../report/roc.rst", category="Models",
                   subcategory="{endpoint}"),
        model="results/models/{endpoint}/model.joblib",
    wildcard_constraints:
        endpoint=endpoints_of_type("binary"),
    params:
        settings=config["model"],
        landmark_days=landmark_days(),
    log:
        "logs/model/{endpoint}.log",
    benchmark:
        "logs/benchmark/model/{endpoint}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/modelling.yaml"
    script:
        "../scripts/model.py"
