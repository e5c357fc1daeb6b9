"""Delta-radiomics: lesions matched across timepoints (match), changes from baseline (changes), per patient (run)."""
