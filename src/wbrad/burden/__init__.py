"""PET tumour burden without contours: candidate voxels by an SUV rule (threshold), physiological uptake removed with
the segmentation's organ masks (exclusion), connected lesions of a minimum volume (detect), per-scan TMTV, TLG and
dissemination (detect), agreement with contoured lesions (agreement), one job per PET scan (run), a MIP picture (mip).
Column declarations (columns) need no image library: the cohort stage reads them."""
