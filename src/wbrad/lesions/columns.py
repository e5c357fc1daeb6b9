"""The value columns of the lesion tables and the columns of aggregates.tsv, declared once: name, unit, description.

A lesion table holds the values ``VALUES`` (volume, RECIST axes, PET uptake) and pyradiomics features, whose unit
follows from the feature's name (``feature_unit``). aggregates.tsv holds ``AGGREGATES``: single columns and families
``<prefix><value>`` over lesion values (with the value's unit) or ``<prefix><word>`` (with a fixed unit).
lesions.aggregate takes its lists from here; the cohort's data dictionary and docs/data-contracts.md describe its
columns with these. Nothing here needs an image library: the cohort stage's environment reads it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wbrad.columns import Column

VALUES = (
    Column("volume_ml", "ml", "lesion volume"),
    Column("long_axis_mm", "mm", "longest axial diameter (RECIST long axis)"),
    Column("short_axis_mm", "mm", "width perpendicular to the long axis in its slice (RECIST short axis)"),
    Column("suvmax", "SUV", "SUVmax (PET voxels centred in the lesion)"),
    Column("suvpeak", "SUV", "SUVpeak (largest mean SUV in a 1 cm3 sphere)"),
    Column("suvmean", "SUV", "SUVmean (delineated volume)"),
    Column("mtv_ml", "ml", "metabolic tumour volume (delineated volume)"),
    Column("tlg", "SUV ml", "total lesion glycolysis (SUVmean x MTV)"),
)
OK, TRUNCATED, FAILED = "ok", "truncated", "failed"  # a lesion row's status (docs/data-contracts.md)
MEASURED = (OK, TRUNCATED)  # the statuses whose values enter the aggregates (a truncated lesion's where not NaN)
TOTALS = ("long_axis_mm", "mtv_ml", "tlg")  # summed over ok and truncated lesions where the table has them
MAXIMA = ("suvmax",)
ID_COLUMNS = ["lesion", "status", "reason"]  # a lesion table's first columns after the scan keys
GEOMETRY_COLUMNS = ["volume_ml", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]
SITES = ("liver", "lung", "lymph_node", "bone", "subcutaneous", "other")  # a lesion's site (lesions.sites)
HETEROGENEITY = {"sd": "sample standard deviation", "iqr": "interquartile range", "range": "range (max - min)"}


@dataclass(frozen=True)
class Family:
    """aggregates.tsv columns ``<prefix><x>``. With ``unit`` None, ``x`` is a lesion value (one of ``values``, any
    when that is empty) and the column has the value's unit; else ``x`` is a ``word`` and the unit is ``unit``.
    ``description`` has ``{}`` for the value's description or the word."""

    prefix: str
    description: str
    unit: str | None = None
    values: tuple[str, ...] = ()
    word: str = "value"

    @property
    def pattern(self) -> str:
        return f"{self.prefix}<{self.word}>"

    def column(self, name: str, image_unit: str) -> Column | None:
        """The declaration of ``name`` if it belongs to the family (``image_unit``: HU on CT, SUV on PET)."""
        x = name.removeprefix(self.prefix)
        if not name.startswith(self.prefix) or not x:
            return None
        if self.unit is not None:
            return Column(name, self.unit, self.description.format(x.replace("_", " ")))
        value = value_column(x, image_unit)
        if value is None or (self.values and x not in self.values):
            return None
        return Column(name, value.unit, self.description.format(value.description))


AGGREGATES: tuple[Column | Family, ...] = (  # in the order of aggregates.tsv's columns (after its keys)
    Column("lesion_count", "n", "number of lesions, truncated and failed ones included"),
    Column("total_volume_ml", "ml",
           "total volume of the ok and truncated lesions (0 without lesions, NA when all failed)"),
    Family("total_", "sum over the ok and truncated lesions of the {}", values=TOTALS),
    Family("max_", "highest over the ok and truncated lesions of the {}", values=MAXIMA),
    Column("organ_count", "n", "number of organ sites with a lesion"),
    Family("site_", "1 when a lesion lies in the {} site, else 0", unit="0/1", word="site"),
    Column("spread_mm", "mm", "largest distance between two lesion centroids (0 for one lesion, NA for none)"),
    Family("largest_", "{}, of the largest ok lesion (by volume; a truncated one counts as ok)"),
    Family("vwmean_", "{}, volume-weighted mean over the ok and truncated lesions having it"),
    *(Family(f"{key}_", f"{words} over the ok and truncated lesions of the {{}} (NA with fewer than two)")
      for key, words in HETEROGENEITY.items()),
)

RADIOMICS = re.compile(r"(?P<image>[A-Za-z0-9-]+)_(?P<cls>shape2D|shape|firstorder|glcm|glrlm|glszm|gldm|ngtdm)"
                       r"_(?P<feature>[A-Za-z0-9]+)$")
SHAPE_UNITS = {"VoxelVolume": "mm3", "MeshVolume": "mm3", "SurfaceArea": "mm2", "MeshSurface": "mm2",
               "PixelSurface": "mm2", "SurfaceVolumeRatio": "1/mm", "PerimeterSurfaceRatio": "1/mm"}
SHAPE_LENGTHS = ("Diameter", "AxisLength", "Perimeter")
FIRSTORDER_SQUARED = {"Energy", "Variance"}
FIRSTORDER_UNITLESS = {"Entropy", "Uniformity", "Skewness", "Kurtosis"}


def feature_unit(feature: str, image_unit: str) -> str | None:
    """Unit of a pyradiomics feature name such as ``original_shape_VoxelVolume`` on an image in ``image_unit``
    (filtered images are ``a.u.``); None if not one."""
    match = RADIOMICS.fullmatch(feature)
    if match is None:
        return None
    cls, name = match["cls"], match["feature"]
    if cls.startswith("shape"):
        if name in SHAPE_UNITS:
            return SHAPE_UNITS[name]
        return "mm" if any(k in name for k in SHAPE_LENGTHS) else "unitless"
    if cls != "firstorder" or name in FIRSTORDER_UNITLESS:
        return "unitless"
    image = image_unit if match["image"] == "original" else "a.u."
    if name == "TotalEnergy":
        return f"{image}^2 mm3"
    return f"{image}^2" if name in FIRSTORDER_SQUARED else image


def value_column(name: str, image_unit: str) -> Column | None:
    """A lesion-table value: one of ``VALUES`` or a pyradiomics feature; None if neither."""
    for column in VALUES:
        if column.name == name:
            return column
    unit = feature_unit(name, image_unit)
    if unit is None:
        return None
    match = RADIOMICS.fullmatch(name)
    return Column(name, unit, f"pyradiomics {match['cls']} feature {match['feature']} of the {match['image']} image")


def aggregate_column(name: str, image_unit: str) -> Column | None:
    """The declaration of an aggregates.tsv column (``image_unit``: HU on CT, SUV on PET); None if undeclared."""
    for entry in AGGREGATES:
        if isinstance(entry, Family):
            if (found := entry.column(name, image_unit)) is not None:
                return found
        elif entry.name == name:
            return entry
    return None
