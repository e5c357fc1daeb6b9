"""Data dictionary of the cohort table: unit, source and description of every column.

Registry columns come from a fixed table; imaging columns are described from their prefix (``bc_``, ``ct_``,
``pet_``, ``delta_``), their unit suffix and, for radiomics aggregates, the pyradiomics feature class.
"""

from __future__ import annotations

import re

import pandas as pd

NA = None

REGISTRY: dict[str, tuple[str | None, str]] = {
    "patient_id": (NA, "study pseudonym"),
    "age": ("years", "age at therapy start"),
    "sex": ("category", "sex (M / F)"),
    "height_cm": ("cm", "body height"),
    "weight_kg": ("kg", "body weight"),
    "ecog": ("score 0-4", "ECOG performance status"),
    "ldh": ("U/L", "serum lactate dehydrogenase"),
    "braf": ("category", "BRAF status (mutant / wildtype)"),
    "therapy": ("category", "systemic therapy, e.g. anti-PD1, ipi+nivo"),
    "therapy_start": ("date", "therapy start (YYYY-MM-DD), time origin of OS and PFS"),
    "os_days": ("days", "overall survival time from therapy start"),
    "os_event": ("0/1", "death observed (1) or censored (0)"),
    "pfs_days": ("days", "progression-free survival time from therapy start"),
    "pfs_event": ("0/1", "progression or death observed (1) or censored (0)"),
    "best_response": ("category", "best overall response (CR / PR / SD / PD)"),
    "irae_any": ("0/1", "immune-related adverse event of any grade"),
    "irae_grade3": ("0/1", "immune-related adverse event of grade >= 3"),
}

BODYCOMP: dict[str, str] = {
    "l3_sma_cm2": "skeletal muscle area on the L3 slice",
    "l3_smi_cm2m2": "skeletal muscle index at L3 (muscle area / height squared)",
    "l3_muscle_hu": "mean muscle attenuation on the L3 slice",
    "l3_vat_cm2": "visceral adipose tissue area on the L3 slice",
    "l3_sat_cm2": "subcutaneous adipose tissue area on the L3 slice",
    "l1l5_muscle_ml": "skeletal muscle volume from L1 to L5",
    "l1l5_vat_ml": "visceral adipose tissue volume from L1 to L5",
    "l1l5_sat_ml": "subcutaneous adipose tissue volume from L1 to L5",
    "liver_ml": "liver volume",
    "liver_hu": "mean liver attenuation",
    "spleen_ml": "spleen volume",
    "qc_status": "body composition quality control (ok / failed; failed rows have NA metrics)",
}

SUFFIX_UNITS = [("_mm3", "mm3"), ("_ml", "ml"), ("_cm2m2", "cm2/m2"), ("_cm2", "cm2"), ("_hu", "HU"),
                ("_days", "days"), ("_mm", "mm")]
IMAGE_UNITS = {"ct": "HU", "pet": "SUV", "pt": "SUV"}
MODALITY_NAMES = {"ct": "CT", "pet": "PET", "pt": "PET"}

RADIOMICS = re.compile(r"(?P<image>[A-Za-z0-9-]+)_(?P<cls>shape2D|shape|firstorder|glcm|glrlm|glszm|gldm|ngtdm)"
                       r"_(?P<feature>[A-Za-z0-9]+)$")
SHAPE_UNITS = {"VoxelVolume": "mm3", "MeshVolume": "mm3", "SurfaceArea": "mm2", "MeshSurface": "mm2",
               "PixelSurface": "mm2", "SurfaceVolumeRatio": "1/mm", "PerimeterSurfaceRatio": "1/mm"}
SHAPE_LENGTHS = ("Diameter", "AxisLength", "Perimeter")
FIRSTORDER_SQUARED = {"Energy", "Variance"}
FIRSTORDER_UNITLESS = {"Entropy", "Uniformity", "Skewness", "Kurtosis"}


def radiomics_unit(feature: str, modality: str) -> str | None:
    """Unit of a pyradiomics feature name such as ``original_shape_VoxelVolume``; None if not one."""
    match = RADIOMICS.search(feature)
    if match is None:
        return None
    cls, name = match["cls"], match["feature"]
    if cls.startswith("shape"):
        if name in SHAPE_UNITS:
            return SHAPE_UNITS[name]
        return "mm" if any(k in name for k in SHAPE_LENGTHS) else "unitless"
    if cls != "firstorder" or name in FIRSTORDER_UNITLESS:
        return "unitless"
    image = IMAGE_UNITS[modality] if match["image"] == "original" else "a.u."
    if name == "TotalEnergy":
        return f"{image}^2 mm3"
    return f"{image}^2" if name in FIRSTORDER_SQUARED else image


def aggregate_unit(name: str, modality: str) -> str | None:
    """Unit of a per-scan metric or lesion aggregate (suffix, count, then pyradiomics class)."""
    for suffix, unit in SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    if name.endswith("count"):
        return "n"
    return radiomics_unit(name, modality)


def aggregate_description(name: str) -> str:
    """Words for a lesion aggregate column of aggregates.tsv."""
    if name == "lesion_count":
        return "number of lesions"
    if name == "total_volume_ml":
        return "total lesion volume"
    if name.startswith("largest_"):
        return f"{name.removeprefix('largest_')} of the largest lesion"
    if name.startswith("vwmean_"):
        return f"volume-weighted mean of {name.removeprefix('vwmean_')} over lesions"
    return name


def describe(column: str, baseline: str = "baseline", followup: str = "fu1") -> tuple[str | None, str, str]:
    """``(unit, source, description)`` of one cohort column."""
    if column in REGISTRY:
        unit, text = REGISTRY[column]
        return unit, "registry.csv", text
    if column.startswith("bc_"):
        name = column.removeprefix("bc_")
        return (aggregate_unit(name, "ct"), f"bodycomp.tsv ({baseline})",
                f"{BODYCOMP.get(name, name)} (body composition, {baseline} CT)")
    if match := re.match(r"(ct|pet)_(.+)$", column):
        modality, name = match.groups()
        return (aggregate_unit(name, modality), f"aggregates.tsv ({baseline}, {MODALITY_NAMES[modality]})",
                f"{aggregate_description(name)} ({baseline} {MODALITY_NAMES[modality]})")
    if match := re.match(r"delta_(abs|rel)_(ct|pet|pt)_(.+)$", column):
        kind, modality, name = match.groups()
        what = f"{aggregate_description(name)} ({MODALITY_NAMES[modality]})"
        if kind == "rel":
            return ("fraction", f"delta.tsv ({followup})",
                    f"relative change ({followup} - {baseline}) / {baseline} of {what}")
        return (aggregate_unit(name, modality), f"delta.tsv ({followup})",
                f"absolute change {followup} - {baseline} of {what}")
    if column == "delta_baseline_days":
        return ("days", f"delta.tsv ({followup})", f"days from the {baseline} scan to the {followup} scan")
    if column.startswith("delta_"):
        name = column.removeprefix("delta_")
        return (aggregate_unit(name, "ct"), f"delta.tsv ({followup})", f"{name} ({followup} versus {baseline})")
    return (NA, "registry.csv", "registry column without a fixed description")


def data_dictionary(columns: list[str], baseline: str = "baseline", followup: str = "fu1") -> pd.DataFrame:
    """One row per column: ``column, unit, source, description``."""
    rows = [(c, *describe(c, baseline, followup)) for c in columns]
    return pd.DataFrame(rows, columns=["column", "unit", "source", "description"])
