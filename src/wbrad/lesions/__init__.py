"""Lesion radiomics: per-lesion pyradiomics features (extract, run) and per-scan aggregates (aggregate)."""
