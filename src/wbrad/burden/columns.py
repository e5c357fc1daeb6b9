"""The columns of burden.tsv (one row per PET scan) and the cohort's burden columns, declared once.

burden.run writes ``COLUMNS`` in this order; the cohort takes ``COHORT_VALUES`` at baseline (``burden_<value>``) and
their change at the follow-up (``delta_abs_burden_<value>``, ``delta_rel_burden_<value>``); the data dictionary and
docs/data-contracts.md describe them from here. Nothing here needs an image library: the cohort stage reads it too.
"""

from __future__ import annotations

from wbrad.columns import SCAN_KEYS, Column

COLUMNS = (
    *SCAN_KEYS,
    Column("threshold_rule", "category", "candidate rule (burden.threshold.rule): absolute (SUV >= 4), relative (41 % "
                                         "of each component's SUVmax) or percist (liver)"),
    Column("threshold_suv", "SUV", "SUV a candidate voxel reaches: the absolute threshold, the relative rule's floor, "
                                   "or 1.5 x liver mean + 2 SD (PERCIST)"),
    Column("tmtv_ml", "ml", "total metabolic tumour volume: voxels of the detected lesions"),
    Column("tlg", "SUV ml", "total lesion glycolysis: SUV x voxel volume summed over the detected lesions"),
    Column("lesion_count", "n", "number of detected lesions"),
    Column("suvmax", "SUV", "highest SUV in a detected lesion (NA without one)"),
    Column("dmax_mm", "mm", "dissemination Dmax: largest distance between two detected lesions' centroids (0 for one "
                            "lesion, NA for none)"),
    Column("excluded_ml", "ml", "candidate volume removed as physiological uptake (organs and their margins)"),
    Column("contoured_lesions", "n", "number of contoured lesions (the scan's lesions.nii.gz; NA without contours)"),
    Column("detected_contoured", "n", "contoured lesions that a detected lesion overlaps"),
    Column("detection_recall", "fraction", "per-lesion detection recall: detected_contoured / contoured_lesions (NA "
                                           "without contoured lesions)"),
    Column("false_positives", "n", "detected lesions that overlap no contoured lesion"),
    Column("dice", "fraction", "Dice coefficient of the union of the detected and the union of the contoured lesions, "
                               "on the CT grid"),
    Column("reason", "text", "why values are NA (no liver reference, no contours); NA when none"),
)
NAMES = [c.name for c in COLUMNS]
COHORT_VALUES = ("tmtv_ml", "tlg", "lesion_count", "suvmax", "dmax_mm")  # the cohort's burden_<value>


def column(name: str) -> Column | None:
    """The declaration of a burden.tsv column; None if undeclared."""
    return next((c for c in COLUMNS if c.name == name), None)
