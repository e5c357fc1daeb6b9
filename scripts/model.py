"""Rules model and model_binary: nested cross-validated models for one endpoint."""

import _src  # noqa: F401  (makes src/wbrad importable where wbrad is not installed)

from wbrad.model.run import model_endpoint
from wbrad.workflow import rule_logging

with rule_logging(snakemake):
    model_endpoint(
        cohort=snakemake.input.cohort,
        endpoint=snakemake.wildcards.endpoint,
        settings=dict(snakemake.params.settings),
        outputs={name: snakemake.output[name] for name in snakemake.output.keys()},
        threads=snakemake.threads,
    )
