"""PET SUV scale factors following the QIBA vendor-neutral SUV algorithm.

The inputs are per-instance header attributes in a flat layout named by DICOM keyword (the layout of
cornerstonejs/calculate-suv's ``InstanceMetadata``): ``Units``, ``DecayCorrection``, ``CorrectedImage``,
``SeriesDate/Time``, ``AcquisitionDate/Time``, ``PatientWeight`` (kg), ``PatientSize`` (m), ``PatientSex``,
``RadionuclideTotalDose`` (Bq), ``RadionuclideHalfLife`` (s), ``RadiopharmaceuticalStartDateTime`` or
``RadiopharmaceuticalStartTime``, and ``PhilipsPETPrivateGroup`` (``SUVScaleFactor``,
``ActivityConcentrationScaleFactor``). :func:`instance_metadata` builds it from a pydicom dataset.

Nothing falls back silently: a missing input raises :class:`SuvError` naming the scan and the tag, unless an explicit
override (from the config or the registry) gives the value; overrides are recorded in the returned inputs.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

MODES = ("bw", "lbm", "bsa")
LBM_FORMULAS = ("janmahasatian", "james128", "james120")
UNITS = ("BQML", "CNTS", "GML")
DECAY_CORRECTIONS = ("START", "ADMIN", "NONE")
PHILIPS_SUV_SCALE = 0x70531000  # Philips private SUV scale factor (CNTS to SUVbw)
PHILIPS_ACTIVITY_SCALE = 0x70531009  # Philips private activity concentration scale factor (CNTS to Bq/mL)
PHILIPS_CREATOR = "Philips PET Private Group"
RADIOPHARMACEUTICAL_KEYWORDS = ("RadionuclideTotalDose", "RadionuclideHalfLife", "RadiopharmaceuticalStartDateTime",
                                "RadiopharmaceuticalStartTime")
SERIES_KEYWORDS = ("Units", "DecayCorrection", "CorrectedImage", "SeriesDate", "SeriesTime", "AcquisitionDate",
                   "AcquisitionTime", "PatientWeight", "PatientSize", "PatientSex", "FrameReferenceTime",
                   "ActualFrameDuration")


class SuvError(ValueError):
    """An SUV factor cannot be computed; the message names the scan, the tag and the fix."""


@dataclass
class SuvResult:
    """Scale factors (one per instance, in the order given) and every input used, for provenance."""

    factors: list[float]
    mode: str
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def factor(self) -> float:
        """The series' single factor; an error when it varies per instance (DecayCorrection NONE)."""
        if len(set(self.factors)) != 1:
            raise ValueError("the SUV factor varies per instance; use .factors")
        return self.factors[0]


def tag_name(keyword: str) -> str:
    """``Keyword (gggg,eeee)`` for error messages."""
    tag = tag_for_keyword(keyword)
    return keyword if tag is None else f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _plain(value: Any) -> Any:
    """pydicom values as plain Python (DS/IS to numbers, MultiValue to lists, text to str)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value) if type(value).__name__ == "IS" else float(value)
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]
    return str(value)


def _philips_private(ds: Dataset) -> dict[str, float]:
    """The Philips private scale factors when present (the private creator is checked, not assumed)."""
    found = {}
    for tag, name in ((PHILIPS_SUV_SCALE, "SUVScaleFactor"), (PHILIPS_ACTIVITY_SCALE,
                                                              "ActivityConcentrationScaleFactor")):
        creator = ds.get(((tag >> 16) << 16) | 0x0010)
        if tag in ds and creator is not None and str(creator.value).strip() == PHILIPS_CREATOR:
            value = ds[tag].value
            value = value.decode().strip("\0 ") if isinstance(value, bytes) else value
            found[name] = float(value)
    return found


def instance_metadata(ds: Dataset) -> dict[str, Any]:
    """The SUV-relevant attributes of one PET instance in the flat layout (missing ones absent)."""
    meta = {k: _plain(ds.get(k)) for k in SERIES_KEYWORDS}
    sequence = ds.get("RadiopharmaceuticalInformationSequence")
    if sequence:
        meta.update({k: _plain(sequence[0].get(k)) for k in RADIOPHARMACEUTICAL_KEYWORDS})
    if philips := _philips_private(ds):
        meta["PhilipsPETPrivateGroup"] = philips
    return {k: v for k, v in meta.items() if v is not None}


def parse_datetime(date: str | None, time: str | None, where: str, tags: str) -> dt.datetime:
    """DICOM DA + TM (or DT when ``date`` holds a full date-time) to a datetime; offsets are ignored."""
    text = f"{date or ''}{time or ''}".strip()
    digits, _, fraction = text.partition(".")
    digits = digits.split("+")[0].split("-")[0]
    if len(digits) < 12:
        raise SuvError(f"{where}: cannot read the date/time {text!r} of {tags}")
    stamp = dt.datetime.strptime(digits[:14].ljust(14, "0"), "%Y%m%d%H%M%S")
    return stamp + dt.timedelta(seconds=float(f"0.{fraction}") if fraction.isdigit() else 0.0)


class _Inputs:
    """Reads the series-level inputs: overrides first, then the first instance; records what was used."""

    def __init__(self, instances: Sequence[Mapping[str, Any]], overrides: Mapping[str, Any], where: str):
        self.first, self.overrides, self.where = instances[0], overrides, where
        self.used: dict[str, Any] = {}

    def get(self, keyword: str, required: bool = True) -> Any:
        if keyword in self.overrides:
            value, source = self.overrides[keyword], "override"
        else:
            value, source = self.first.get(keyword), "dicom"
        if value is None or value == "" or (keyword == "PatientWeight" and not value):
            if required:
                raise SuvError(f"{self.where}: {tag_name(keyword)} is missing or empty ({source}); the SUV cannot "
                               f"be computed (give it explicitly in the config's convert.overrides if it is known)")
            return None
        self.used[keyword] = {"value": value, "source": source}
        return value


def _check_single_series(instances: Sequence[Mapping[str, Any]], where: str) -> None:
    for keyword in ("Units", "DecayCorrection", "PatientWeight", "RadionuclideTotalDose", "RadionuclideHalfLife",
                    "SeriesDate", "SeriesTime"):
        values = {str(inst.get(keyword)) for inst in instances}
        if len(values) > 1:
            raise SuvError(f"{where}: {tag_name(keyword)} differs between instances ({sorted(values)}); "
                           f"the files do not form one PET series")


def _scan_times(instances: Sequence[Mapping[str, Any]], inputs: _Inputs, decay: str) -> list[dt.datetime]:
    """QIBA scan time: the series date-time unless an acquisition started earlier, then the earliest acquisition.

    With DecayCorrection NONE each instance decays to its own acquisition start instead.
    """
    where = inputs.where
    acquisitions = [parse_datetime(i.get("AcquisitionDate"), i.get("AcquisitionTime"), where,
                                   "AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032)") for i in instances]
    if decay == "NONE":
        return acquisitions
    series = parse_datetime(inputs.get("SeriesDate"), inputs.get("SeriesTime"), where,
                            "SeriesDate/SeriesTime (0008,0021)/(0008,0031)")
    return [min(series, min(acquisitions))] * len(instances)


def _injection_time(inputs: _Inputs) -> dt.datetime:
    """RadiopharmaceuticalStartDateTime, else RadiopharmaceuticalStartTime on the series date."""
    start = inputs.get("RadiopharmaceuticalStartDateTime", required=False)
    if start is not None:
        return parse_datetime(start, None, inputs.where, tag_name("RadiopharmaceuticalStartDateTime"))
    if inputs.get("RadiopharmaceuticalStartTime", required=False) is None:
        raise SuvError(f"{inputs.where}: neither {tag_name('RadiopharmaceuticalStartDateTime')} nor "
                       f"{tag_name('RadiopharmaceuticalStartTime')} is set; the injection time is unknown")
    return parse_datetime(inputs.get("SeriesDate"), inputs.get("RadiopharmaceuticalStartTime"), inputs.where,
                          "RadiopharmaceuticalStartTime (0018,1072) on SeriesDate")


def _decayed_dose(instances: Sequence[Mapping[str, Any]], inputs: _Inputs, decay: str) -> list[float]:
    """The injected dose decayed to the reference time of the image values, in Bq (one per instance)."""
    dose = float(inputs.get("RadionuclideTotalDose"))
    if dose <= 0:
        raise SuvError(f"{inputs.where}: {tag_name('RadionuclideTotalDose')} is {dose}, not a positive dose in Bq")
    if decay == "ADMIN":
        return [dose] * len(instances)
    half_life = float(inputs.get("RadionuclideHalfLife"))
    injection = _injection_time(inputs)
    seconds = [(scan - injection).total_seconds() for scan in _scan_times(instances, inputs, decay)]
    if min(seconds) < 0:
        raise SuvError(f"{inputs.where}: a scan starts {-min(seconds):.0f} s before the injection; check "
                       f"{tag_name('RadiopharmaceuticalStartDateTime')} and the series/acquisition times")
    inputs.used["decay_seconds"] = sorted(set(seconds))
    return [dose * 2 ** (-s / half_life) for s in seconds]


def lean_body_mass_kg(weight_kg: float, height_m: float, sex: str, formula: str) -> float:
    """Lean body mass: Janmahasatian et al. 2005, or James 1976 with the male coefficient 128 (or 120)."""
    if sex not in ("M", "F"):
        raise ValueError(f"lean body mass needs sex M or F, got {sex!r}")
    if formula == "janmahasatian":
        bmi = weight_kg / height_m**2
        return 9270 * weight_kg / ((6680 + 216 * bmi) if sex == "M" else (8780 + 244 * bmi))
    if formula not in ("james128", "james120"):
        raise ValueError(f"unknown lean body mass formula {formula!r}; choose one of {LBM_FORMULAS}")
    ratio = (weight_kg / (height_m * 100)) ** 2
    return 1.1 * weight_kg - int(formula[5:]) * ratio if sex == "M" else 1.07 * weight_kg - 148 * ratio


def body_surface_area_cm2(weight_kg: float, height_m: float) -> float:
    """Body surface area (Du Bois and Du Bois 1916) in cm^2."""
    return 71.84 * weight_kg**0.425 * (height_m * 100) ** 0.725


def _normaliser(inputs: _Inputs, mode: str, lbm_formula: str) -> float:
    """Grams of body weight (bw) or lean body mass (lbm), or cm^2 of body surface (bsa)."""
    weight = float(inputs.get("PatientWeight"))
    if weight <= 0:
        raise SuvError(f"{inputs.where}: {tag_name('PatientWeight')} is {weight}, not a weight in kg")
    if mode == "bw":
        return weight * 1000
    height = float(inputs.get("PatientSize"))
    if mode == "bsa":
        return body_surface_area_cm2(weight, height)
    sex = inputs.get("PatientSex")
    if sex not in ("M", "F"):
        raise SuvError(f"{inputs.where}: {tag_name('PatientSex')} is {sex!r}; SUVlbm needs M or F")
    inputs.used["lbm_formula"] = lbm_formula
    return lean_body_mass_kg(weight, height, sex, lbm_formula) * 1000


def _counts_factor(instances: Sequence[Mapping[str, Any]], inputs: _Inputs) -> tuple[str, float]:
    """Philips CNTS: the private SUV scale factor, else the activity concentration factor (to Bq/mL)."""
    private = [inst.get("PhilipsPETPrivateGroup") or {} for inst in instances]
    for name in ("SUVScaleFactor", "ActivityConcentrationScaleFactor"):
        values = {float(p[name]) for p in private if p.get(name)}
        if values and all(p.get(name) for p in private):
            if len(values) > 1:
                raise SuvError(f"{inputs.where}: Philips private {name} differs between instances")
            value = values.pop()
            inputs.used[f"Philips{name}"] = {"value": value, "source": "dicom"}
            return name, value
    raise SuvError(f"{inputs.where}: Units CNTS but no Philips private SUVScaleFactor (7053,1000) or "
                   f"ActivityConcentrationScaleFactor (7053,1009) on every instance; counts cannot be converted")


def suv_factors(instances: Sequence[Mapping[str, Any]], where: str, mode: str = "bw",
                lbm_formula: str = "janmahasatian", overrides: Mapping[str, Any] | None = None) -> SuvResult:
    """Scale factors from stored values to SUV (``mode`` bw, lbm or bsa), one per instance.

    Units BQML: normaliser / decayed dose. CNTS (Philips): the private SUV scale factor (SUVbw only), or the
    activity concentration factor times the BQML factor. GML: already SUVbw, factor 1.0 (SUVbw only).
    DecayCorrection START decays the dose to the QIBA scan time, ADMIN uses the dose as given (images corrected to
    the injection), NONE decays to each instance's acquisition start. ``where`` names patient, timepoint and series
    in every error.
    """
    if not instances:
        raise SuvError(f"{where}: no PET instances")
    if mode not in MODES:
        raise ValueError(f"unknown SUV mode {mode!r}; choose one of {MODES}")
    _check_single_series(instances, where)
    inputs = _Inputs(instances, overrides or {}, where)
    units = inputs.get("Units")
    if units not in UNITS:
        raise SuvError(f"{where}: {tag_name('Units')} is {units!r}; supported are {', '.join(UNITS)}")
    corrected = inputs.get("CorrectedImage", required=False) or []
    if units != "GML" and not {"ATTN", "DECY"} <= set(corrected):
        raise SuvError(f"{where}: {tag_name('CorrectedImage')} is {corrected}; SUV needs an attenuation- and "
                       f"decay-corrected series (ATTN and DECY)")
    counts = _counts_factor(instances, inputs) if units == "CNTS" else None
    if units == "GML" or (counts and counts[0] == "SUVScaleFactor"):
        if mode != "bw":
            raise SuvError(f"{where}: Units {units} stores SUVbw already; SUV{mode} would need the raw activity")
        return SuvResult([counts[1] if counts else 1.0] * len(instances), mode, inputs.used)
    decay = inputs.get("DecayCorrection")
    if decay not in DECAY_CORRECTIONS:
        raise SuvError(f"{where}: {tag_name('DecayCorrection')} is {decay!r}; supported are "
                       f"{', '.join(DECAY_CORRECTIONS)}")
    to_bqml = counts[1] if counts else 1.0
    normaliser = _normaliser(inputs, mode, lbm_formula)
    factors = [to_bqml * normaliser / dose for dose in _decayed_dose(instances, inputs, decay)]
    if not all(math.isfinite(f) and f > 0 for f in factors):
        raise SuvError(f"{where}: SUV factors {factors} are not finite and positive")
    return SuvResult(factors, mode, inputs.used)
