# Stage 3c, feature robustness without repeat scans (config robustness:, off when absent or perturbations: 0): one job
# per contoured scan perturbs every lesion (noise, sub-voxel translation, contour randomisation, volume adaptation;
# Zwanenburg et al., Sci Rep 2019) through the lesion stage's extractor; one cohort job computes each feature's
# ICC(1,1) over the lesions and plots it per feature class. With robustness.retest (a rescan timepoint contoured with
# the baseline's labels), one more job computes the test-retest ICC and its agreement. The ICC uses no outcome.
from wbrad.robustness import plan as robustness_plan
from wbrad.study import ROBUSTNESS, ROBUSTNESS_AGREEMENT, ROBUSTNESS_PLOT, ROBUSTNESS_RETEST, ROBUSTNESS_SCAN

ROBUSTNESS_SETTINGS = config.get("robustness")
ROBUSTNESS_TABLES = robustness_plan.scan_tables(
    ROBUSTNESS_SETTINGS, {key: row.lesions for key, row in SCANS.items()}, BASELINE
)
ROBUSTNESS_RETEST_TABLES = robustness_plan.retest_tables(
    ROBUSTNESS_SETTINGS, {key: row.lesions for key, row in SCANS.items()}, BASELINE
)
ROBUSTNESS_TABLE = [ROBUSTNESS] if ROBUSTNESS_TABLES else []  # the model stage's robust-feature filter reads it
ROBUSTNESS_OUTPUTS = [  # in all_outputs()
    *robustness_plan.cohort_outputs(ROBUSTNESS_TABLES),
    *robustness_plan.retest_outputs(ROBUSTNESS_RETEST_TABLES),
]


rule robustness:
    input:
        image=lambda w: path(LESION_IMAGE[w.modality], patient=w.patient, timepoint=w.timepoint),
        lesions=LESION_MAP,
        params=lambda w: LESION_PARAMS[w.modality],
    output:
        table=ROBUSTNESS_SCAN,
    log:
        "logs/robustness/{patient}_{timepoint}_{modality}.log",
    benchmark:
        "logs/benchmark/robustness/{patient}_{timepoint}_{modality}.tsv"
    conda:
        "../envs/radiomics.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        chain=robustness_plan.chain_settings(ROBUSTNESS_SETTINGS),
        border=config["lesions"]["border"],
    script:
        "../scripts/robustness.py"


rule robustness_icc:
    input:
        tables=ROBUSTNESS_TABLES,
    output:
        table=report(ROBUSTNESS, caption="../report/robustness.rst", category="Robustness"),
        plot=report(ROBUSTNESS_PLOT, caption="../report/robustness.rst", category="Robustness"),
    log:
        "logs/robustness_icc.log",
    benchmark:
        "logs/benchmark/robustness_icc.tsv"
    conda:
        "../envs/modelling.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/robustness_icc.py"


rule robustness_retest:
    input:
        tables=ROBUSTNESS_RETEST_TABLES,
        perturbation=ROBUSTNESS,
    output:
        table=report(ROBUSTNESS_RETEST, caption="../report/robustness.rst", category="Robustness"),
        agreement=ROBUSTNESS_AGREEMENT,
    log:
        "logs/robustness_retest.log",
    benchmark:
        "logs/benchmark/robustness_retest.tsv"
    conda:
        "../envs/modelling.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        test=BASELINE,
        retest=(ROBUSTNESS_SETTINGS or {}).get("retest"),
    script:
        "../scripts/robustness_retest.py"
