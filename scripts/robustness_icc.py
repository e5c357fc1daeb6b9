"""Rule robustness_icc: the perturbation ICC(1,1) of every feature over the cohort's lesions, and its plot."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.robustness.report import cohort_robustness
from wbrad.workflow import rule_logging

with rule_logging(snakemake):
    cohort_robustness(list(snakemake.input.tables), snakemake.output.table, snakemake.output.plot)
