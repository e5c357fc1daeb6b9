"""Feature robustness without repeat scans: image perturbation (perturb), ICC(1,1) per feature (icc), the
``robustness.tsv`` rows and the plot of the ICC per feature class (report)."""
