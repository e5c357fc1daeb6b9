"""Rule robustness_retest: the test-retest ICC(1,1) of every feature (baseline and retest lesions paired by label)
and its agreement with the perturbation ICC."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.robustness.report import cohort_retest
from wbrad.workflow import rule_logging

with rule_logging(snakemake):
    cohort_retest(
        list(snakemake.input.tables),
        snakemake.input.perturbation,
        test=snakemake.params.test,
        retest=snakemake.params.retest,
        out_tsv=snakemake.output.table,
        out_json=snakemake.output.agreement,
    )
