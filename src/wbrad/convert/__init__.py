"""Convert scans (NIfTI or DICOM series) into canonical NIfTI images with provenance."""
