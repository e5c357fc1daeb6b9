"""Feature robustness without repeat scans: image perturbation (perturb), ICC(1,1) per feature (icc), the
``robustness.tsv`` rows and the plot of the ICC per feature class (report), the workflow's per-scan and cohort jobs
(run: pyradiomics side; report: the cohort side, without pyradiomics)."""

PERTURBATION = "perturbation"  # column of the perturbed tables: 1..n
