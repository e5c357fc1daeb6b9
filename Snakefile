# wbrad: whole-body radiomics, from scans and a clinical registry to validated outcome models.
# The DAG runs per patient and timepoint: convert -> segment -> bodycomp, convert -> lesions -> track -> delta, then cohort -> model.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/convert.smk"
include: "rules/bodycomp.smk"
include: "rules/lesions.smk"
include: "rules/burden.smk"
include: "rules/track.smk"
include: "rules/delta.smk"
include: "rules/cohort.smk"
include: "rules/robustness.smk"
include: "rules/model.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        all_outputs(),


onsuccess:
    cancel_rescheduling_timers()


onerror:
    cancel_rescheduling_timers()
