"""The synthetic registry cohort: phantoms, lesions, PET, registry with known survival model, truth.json."""

from wbrad.synth.cohort import write_cohort
from wbrad.synth.grid import SIZES, Grid, SynthSize
from wbrad.synth.registry import COEFFICIENTS, draw_patients, oracle_cindex, registry_table

__all__ = ["COEFFICIENTS", "SIZES", "Grid", "SynthSize", "draw_patients", "oracle_cindex", "registry_table",
           "write_cohort"]
