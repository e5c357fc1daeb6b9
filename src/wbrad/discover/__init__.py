"""Discover a hospital's DICOM export: header index, series selection, timepoints, pseudonyms, manifest."""
