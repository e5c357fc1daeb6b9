"""`wbrad audit`: before a run, what is missing and what Snakemake would run (and why), per patient and timepoint."""

from wbrad.audit.run import Audit, render, run_audit, write_audit

__all__ = ["Audit", "render", "run_audit", "write_audit"]
