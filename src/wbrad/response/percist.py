"""PERCIST 1.0 (Wahl et al., From RECIST to PERCIST: evolving considerations for PET response criteria in solid
tumors, J Nucl Med 2009;50 Suppl 1:122S-150S).

- SUL: SUV (body weight) x lean body mass / weight; lean body mass by James's formula as PERCIST 1.0 gives it
  (male 1.10 W - 128 (W/H)^2, female 1.07 W - 148 (W/H)^2; W in kg, H in cm), or Janmahasatian's fat-free mass
  (Janmahasatian et al., Quantification of lean bodyweight, Clin Pharmacokinet 2005;44:1051-1065: male
  9270 W / (6680 + 216 BMI), female 9270 W / (8780 + 244 BMI)).
- Liver reference: a 3 cm diameter sphere in the right lobe: here centred on the liver voxel farthest from the mask's
  edge among those in the liver's right part (patient's right of its centroid), its SUL mean and SD over the liver
  voxels in it; measurable disease from SULpeak >= 1.5 x mean + 2 SD.
- SULpeak of the hottest lesion: the largest mean SUL in a 1 cm3 sphere (:func:`wbrad.lesions.pet.lesion_uptake`'s
  SUVpeak, x the SUL factor); the hottest lesion of each scan, not necessarily the same lesion.
- Categories against the baseline scan (Table 9): CMR when the hottest lesion's SULpeak falls below the liver's mean
  (or no lesion is left) and no new lesion appeared; PMR at a fall of >= 30 % and >= 0.8 SUL; PMD at a rise of > 30 %
  and > 0.8 SUL, or a new lesion; SMD otherwise; NE without a measurable baseline (unless a new lesion) or a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from wbrad.lesions.pet import lesion_uptake, on_grid, peak_kernel
from wbrad.response.recist import TOLERANCE, at_least
from wbrad.response.vocabulary import CMR, DAY, NE, PMD, PMR, SMD, TIMEPOINT

FORMULAS = ("james", "janmahasatian")
LIVER_SPHERE_MM = 30.0


def _male(sex: str) -> bool:
    word = str(sex).strip().lower()
    if word not in ("m", "male", "f", "female"):
        raise ValueError(f"unknown sex {sex!r}; use M or F")
    return word.startswith("m")


def lean_body_mass(weight_kg: float, height_cm: float, sex: str, formula: str = "james") -> float:
    """Lean body mass (kg) by ``formula`` (see the module docstring)."""
    if formula == "james":
        a, b = (1.10, 128.0) if _male(sex) else (1.07, 148.0)
        return a * weight_kg - b * (weight_kg / height_cm) ** 2
    if formula == "janmahasatian":
        bmi = weight_kg / (height_cm / 100) ** 2
        return 9270 * weight_kg / ((6680 + 216 * bmi) if _male(sex) else (8780 + 244 * bmi))
    raise ValueError(f"unknown lean body mass formula {formula!r}; choose one of {FORMULAS}")


def sul_factor(weight_kg: float, height_cm: float, sex: str, formula: str = "james") -> float:
    """SUL / SUV(body weight): lean body mass over weight."""
    return lean_body_mass(weight_kg, height_cm, sex, formula) / weight_kg


@dataclass(frozen=True)
class LiverReference:
    mean: float
    sd: float
    centre_xyz: tuple[float, float, float]  # physical point (mm)
    depth_mm: float  # distance of the centre from the mask's edge (voxel centres): the sphere fits when >= radius

    @property
    def threshold(self) -> float:
        """PERCIST's measurability threshold, 1.5 x mean + 2 x SD."""
        return 1.5 * self.mean + 2 * self.sd


def _physical_x(image: sitk.Image) -> np.ndarray:
    """Physical x (LPS: larger is the patient's left) of every voxel centre, as a [z, y, x] array."""
    size = image.GetSize()
    index = np.meshgrid(*(np.arange(n) for n in size[::-1]), indexing="ij")  # z, y, x
    row = np.reshape(image.GetDirection(), (3, 3))[0] * np.array(image.GetSpacing())
    return image.GetOrigin()[0] + sum(row[a] * index[2 - a] for a in range(3))


def liver_reference(suv: sitk.Image, liver: sitk.Image, diameter_mm: float = LIVER_SPHERE_MM,
                    factor: float = 1.0) -> LiverReference:
    """Mean and SD (x ``factor``, e.g. :func:`sul_factor`) in the liver sphere (module docstring); ``liver`` is a
    mask on any grid."""
    mask = on_grid(liver, suv) > 0
    if not mask.any():
        raise ValueError("the liver mask is empty on the PET grid: no PERCIST reference")
    spacing = suv.GetSpacing()
    depth = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing[::-1])[1:-1, 1:-1, 1:-1]
    x = _physical_x(suv)
    right = mask & (x <= x[mask].mean())
    centre = np.unravel_index(np.argmax(np.where(right, depth, -1.0)), mask.shape)
    kernel = peak_kernel(spacing, diameter_mm / 2)
    half = np.array(kernel.shape) // 2
    box = tuple(slice(max(c - h, 0), c + h + 1) for c, h in zip(centre, half, strict=True))
    cut = tuple(slice(b.start - (c - h), b.stop - (c - h)) for b, c, h in zip(box, centre, half, strict=True))
    inside = kernel[cut] & mask[box]
    values = sitk.GetArrayViewFromImage(suv)[box][inside].astype(float) * factor
    point = suv.TransformIndexToPhysicalPoint([int(i) for i in centre[::-1]])
    return LiverReference(float(values.mean()), float(values.std(ddof=1)), tuple(point), float(depth[centre]))


def hottest_sulpeak(suv: sitk.Image, labels: sitk.Image, lesion_ids: list[int],
                    factor: float) -> tuple[int | None, float]:
    """(lesion, SULpeak) of the lesion with the highest SUVpeak; (None, 0.0) without lesions."""
    uptake = lesion_uptake(suv, labels, lesion_ids).dropna(subset=["suvpeak"])
    if uptake.empty:
        return None, 0.0
    best = uptake.loc[uptake["suvpeak"].idxmax()]
    return int(best["lesion"]), float(best["suvpeak"]) * factor


@dataclass(frozen=True)
class PercistRules:
    response: float = 0.30
    progression: float = 0.30
    min_sul: float = 0.8


def _category(row: pd.Series, baseline: pd.Series, rules: PercistRules) -> str:
    if row["new_lesions"] > 0:
        return PMD
    if not baseline["measurable"] or pd.isna(row["sulpeak"]):
        return NE
    if row["sulpeak"] < row["liver_mean"]:
        return CMR
    if row["change"] > rules.progression + TOLERANCE and row["change_sul"] > rules.min_sul + TOLERANCE:
        return PMD
    if at_least(-row["change"], rules.response) and at_least(-row["change_sul"], rules.min_sul):
        return PMR
    return SMD


def percist_table(scans: pd.DataFrame, rules: PercistRules | None = None) -> pd.DataFrame:
    """From one row per PET timepoint (``timepoint, day, sulpeak`` (the hottest lesion's; 0 without lesions),
    ``liver_mean, liver_sd`` (SUL), ``new_lesions``), ordered by day with the baseline first: adds ``threshold``
    (1.5 x mean + 2 SD), ``measurable`` (SULpeak >= threshold), ``change`` (fraction) and ``change_sul`` (SUL units)
    from the baseline, and ``category`` (NA at the baseline)."""
    rules = rules or PercistRules()
    out = scans.sort_values(DAY, kind="stable").reset_index(drop=True).copy()
    out["threshold"] = 1.5 * out["liver_mean"] + 2 * out["liver_sd"]
    out["measurable"] = out["sulpeak"] >= out["threshold"]
    base = out.iloc[0]
    out["change_sul"] = out["sulpeak"] - base["sulpeak"]
    out["change"] = out["change_sul"] / base["sulpeak"] if base["sulpeak"] > 0 else np.nan
    out["category"] = [pd.NA] + [_category(row, base, rules) for _, row in out.iloc[1:].iterrows()]
    return out[[TIMEPOINT, DAY, "sulpeak", "liver_mean", "liver_sd", "threshold", "measurable", "new_lesions",
                "change", "change_sul", "category"]]
