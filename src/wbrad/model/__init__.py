"""Outcome modelling: survival endpoints, feature sets, Pipelines, repeated cross-validation, plots."""
