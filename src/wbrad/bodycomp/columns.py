"""The columns of bodycomp.tsv, declared once: name, unit and description, in the file's column order.

A metric is declared once and measured over regions: ``SLAB_METRICS`` on the L3 middle slice (``l3_``) and over the
L3 vertebra (``l3avg_``), ``VOLUME_TISSUES`` from L1 to L5 (``l1l5_``) and over the whole scan (``trunk_``).
``ORDER`` is the file's column order (new columns were appended, so older ones kept their place). bodycomp.run writes
``COLUMNS``; the cohort's data dictionary and the tables of docs/data-contracts.md are made from it.
"""

from __future__ import annotations

from collections.abc import Iterable

from wbrad.bodycomp.cutoffs import FLAGS
from wbrad.columns import SCAN_KEYS, Column

SLAB_METRICS = (  # bodycomp.metrics.slab_metrics
    Column("sma_cm2", "cm2", "skeletal muscle area (skeletal_muscle mask within -29..150 HU)"),
    Column("smi_cm2m2", "cm2/m2", "skeletal muscle index: muscle area / height squared (NA without a valid height)"),
    Column("muscle_hu", "HU", "mean attenuation of skeletal muscle"),
    Column("lama_fraction", "fraction", "low-attenuation muscle: share of the muscle voxels within -29..29 HU"),
    Column("imat_cm2", "cm2", "intermuscular adipose tissue area (tissue_4_types/intermuscular_fat, else fat HU "
                              "inside the muscle mask)"),
    Column("vat_cm2", "cm2", "visceral adipose tissue area (torso_fat mask within -190..-30 HU)"),
    Column("sat_cm2", "cm2", "subcutaneous adipose tissue area (subcutaneous_fat mask within -190..-30 HU)"),
    Column("vat_sat_ratio", "unitless", "visceral / subcutaneous adipose tissue area"),
)
SLABS = {"l3": "on the L3 middle slice", "l3avg": "over the slices of vertebrae_L3 (areas: mean per slice)"}
VOLUME_TISSUES = {"muscle": "skeletal muscle", "vat": "visceral adipose tissue", "sat": "subcutaneous adipose tissue",
                  "imat": "intermuscular adipose tissue"}
VOLUMES = {"l1l5": "from the bottom of L5 to the top of L1", "trunk": "over the whole scan"}
ORGANS = ("liver", "spleen")
ORGAN_MEASURES = {"ml": ("ml", "volume"), "hu": ("HU", "mean attenuation")}  # suffix: unit, words

SCAN = (
    *SCAN_KEYS,
    Column("l3_slice", "index", "axial index (z, from the feet) of the L3 middle slice, the middle of vertebrae_L3"),
    Column("l1_bone_hu", "HU", "L1 trabecular bone density: mean HU of vertebrae_L1 eroded by 3 mm"),
    Column("qc_status", "category", "quality control: ok, or failed (then the metrics that need the spine and the "
                                    "tissues are NA)"),
    Column("qc_reason", "text", "why QC failed, and notes on NA values (e.g. height missing); NA when none"),
)

ORDER = ("patient_id", "timepoint", "l3_slice", "l3_sma_cm2", "l3_smi_cm2m2", "l3_muscle_hu", "l3_vat_cm2",
         "l3_sat_cm2", "l1l5_muscle_ml", "l1l5_vat_ml", "l1l5_sat_ml", "liver_ml", "liver_hu", "spleen_ml",
         "spleen_hu", "l3_lama_fraction", "l3_imat_cm2", "l3_vat_sat_ratio", "l3avg_sma_cm2", "l3avg_smi_cm2m2",
         "l3avg_muscle_hu", "l3avg_lama_fraction", "l3avg_imat_cm2", "l3avg_vat_cm2", "l3avg_sat_cm2",
         "l3avg_vat_sat_ratio", "l1l5_imat_ml", "trunk_muscle_ml", "trunk_vat_ml", "trunk_sat_ml", "trunk_imat_ml",
         "l1_bone_hu", "sarcopenia", "myosteatosis", "qc_status", "qc_reason")


def declared() -> list[Column]:
    """Every column, unordered: the regional metrics expanded, organs, flags and the scan's own columns."""
    slabs = [Column(f"{region}_{m.name}", m.unit, f"{m.description}, {where}")
             for region, where in SLABS.items() for m in SLAB_METRICS]
    volumes = [Column(f"{region}_{key}_ml", "ml", f"{tissue} volume, {where}")
               for region, where in VOLUMES.items() for key, tissue in VOLUME_TISSUES.items()]
    organs = [Column(f"{organ}_{suffix}", unit, f"{organ} {words}")
              for organ in ORGANS for suffix, (unit, words) in ORGAN_MEASURES.items()]
    flags = [Column(flag, "0/1", f"{flag}: 1 when l3_{metric} is below the sex-specific (where the source says so, "
                                 "BMI-specific) cut-off of bodycomp.cutoff_source, else 0; NA without cut-offs")
             for flag, metric in FLAGS.items()]
    return [*SCAN, *slabs, *volumes, *organs, *flags]


def ordered(columns: Iterable[Column], order: Iterable[str]) -> tuple[Column, ...]:
    """``columns`` in ``order``; an error when a name is in one and not the other."""
    by_name = {c.name: c for c in columns}
    order = list(order)
    if sorted(by_name) != sorted(order):
        raise ValueError(f"bodycomp columns declared but not ordered: {sorted(set(by_name) - set(order))}; "
                         f"ordered but not declared: {sorted(set(order) - set(by_name))}")
    return tuple(by_name[name] for name in order)


COLUMNS = ordered(declared(), ORDER)
