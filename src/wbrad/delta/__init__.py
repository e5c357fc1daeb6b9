"""Delta-radiomics: changes from baseline of the lesion aggregates and of every tracked lesion (changes), per patient
(run)."""
