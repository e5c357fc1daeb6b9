# Stage 6, outcome modelling: repeated nested cross-validated models per endpoint and feature set.
# Survival endpoints (rule model) and binary endpoints (rule model_binary) share every directive but their outputs.


rule model:
    input:
        cohort=COHORT,
        robustness=ROBUSTNESS_TABLE,
    output:
        **model_outputs(study.SURVIVAL_OUTPUTS),
    log:
        "logs/model/{endpoint}.log",
    benchmark:
        "logs/benchmark/model/{endpoint}.tsv"
    wildcard_constraints:
        endpoint=endpoints_of_type("survival"),
    # survival models take twice as long as binary ones: started first, the binary ones fill the other cores
    priority: 1
    conda:
        "../envs/modelling.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        settings=config["model"] | {"robustness_table": ROBUSTNESS_TABLE[0]} if ROBUSTNESS_TABLE else config["model"],
    script:
        "../scripts/model.py"


use rule model as model_binary with:
    output:
        **model_outputs(study.BINARY_OUTPUTS),
    wildcard_constraints:
        endpoint=endpoints_of_type("binary"),
    priority: 0
