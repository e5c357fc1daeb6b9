"""Helpers that only tests and benchmarks use (as ``sksurv.testing``): stand-in model weights, simulators, metrics of
agreement with a known truth. The pipeline itself never imports this subpackage."""
