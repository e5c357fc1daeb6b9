"""Cohort table: the registry joined with baseline imaging and first follow-up changes, plus its data dictionary."""
