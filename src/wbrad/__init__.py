"""wbrad: whole-body radiomics, from scans and a clinical registry to validated outcome models."""

__version__ = "0.1.0"
