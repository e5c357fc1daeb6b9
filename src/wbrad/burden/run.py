"""One burden job per PET scan: lesions found without contours, their label map and table, the scan's burden row."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from wbrad.burden.agreement import agreement
from wbrad.burden.columns import NAMES
from wbrad.burden.components import burden
from wbrad.burden.detect import detect
from wbrad.burden.exclusion import DEFAULT_EXCLUDE, organ_masks, union_on, zones
from wbrad.burden.maps import excluded_map
from wbrad.burden.mip import plot_mip
from wbrad.burden.threshold import Threshold, candidate_level
from wbrad.image import read_canonical, write_image
from wbrad.io import write_tsv
from wbrad.lesions.run import extract_scan
from wbrad.segmentation import LIVER
from wbrad.study import PET

log = logging.getLogger(__name__)

CONTOURS = "the lesion map"


@dataclass(frozen=True)
class Settings:
    """Config ``burden``: the candidate rule, the smallest lesion, and the excluded organs with their margins (mm;
    None: not excluded)."""

    threshold: Threshold = Threshold()
    min_volume_ml: float = 3.0
    exclude: Mapping[str, float | None] = field(default_factory=lambda: dict(DEFAULT_EXCLUDE))


def settings_from(config: Mapping[str, Any]) -> Settings:
    """Settings from the config's ``burden`` section (missing keys take the defaults)."""
    return Settings(Threshold(**config.get("threshold", {})), float(config.get("min_volume_ml", 3.0)),
                    dict(config.get("exclude", DEFAULT_EXCLUDE)))


def _image(array: np.ndarray, like: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(like)
    return image


def _detect(suv: np.ndarray, pet: sitk.Image, seg: Path, contours: sitk.Image,
            settings: Settings) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(label map, excluded-voxel map, the burden row's values); values NA with a reason without a PERCIST liver."""
    spacing = pet.GetSpacing()[::-1]
    masks = organ_masks(seg, settings.exclude, contours, CONTOURS, pet)
    organ, margin = zones(masks, settings.exclude, spacing, suv.shape)
    liver = union_on(seg, [LIVER], contours, CONTOURS, pet) if settings.threshold.rule == "percist" else None
    try:
        level = candidate_level(suv, settings.threshold, spacing, liver)
    except ValueError as exc:
        return np.zeros(suv.shape, np.uint16), excluded_map(organ, margin), {"reason": str(exc)}
    found = detect(suv, spacing, settings.threshold, level, organ, margin, settings.min_volume_ml)
    values = {"threshold_suv": level, **burden(found.labels, suv, spacing), "excluded_ml": found.excluded_ml}
    return found.labels, excluded_map(organ, margin), values


def measure_burden(pet: Path, seg: Path, contours: Path, params: Path, patient: str, timepoint: str,
                   out_labels: Path, out_excluded: Path, out_lesions: Path, out_table: Path,
                   settings: Settings | None = None, contoured: bool = True, threads: int = 1,
                   out_mip: Path | None = None) -> None:
    """Find the lesions of the PET ``pet`` (SUV, its own grid) without contours and write: their label map and the
    excluded-voxel map (PET grid), their table (uptake and pyradiomics features per ``params``, through
    ``lesions.run.extract_scan``) and the scan's burden row. ``seg`` holds the organ masks on the grid of
    ``contours``, the CT lesion map, with which the detection is compared where ``contoured``. With ``out_mip``, the
    coronal MIP of the result is drawn there too (``mip.plot_mip``, from what the job holds)."""
    settings = settings or Settings()
    tag = f"{patient} {timepoint} burden"
    image = read_canonical(pet, f"{tag}: PET {pet}")
    drawn = read_canonical(contours, f"{tag}: lesion map {contours}")
    labels, excluded, values = _detect(sitk.GetArrayFromImage(image), image, Path(seg), drawn, settings)
    detected = _image(labels, image)
    write_image(detected, out_labels)
    write_image(_image(excluded, image), out_excluded)
    extract_scan(image=Path(pet), lesions=Path(out_labels), params=Path(params), modality=PET, patient=patient,
                 timepoint=timepoint, out_tsv=Path(out_lesions), threads=threads, pet=Path(pet))
    reasons = [values.pop("reason")] if "reason" in values else []
    if contoured:
        values |= agreement(detected, drawn)
    else:
        reasons.append("no contoured lesions to compare with")
    row = {"patient_id": patient, "timepoint": timepoint, "threshold_rule": settings.threshold.rule, **values,
           "reason": "; ".join(reasons) or pd.NA}
    log.info("%s: %s lesions, TMTV %s ml", tag, row.get("lesion_count"), row.get("tmtv_ml"))
    table = pd.DataFrame([row]).reindex(columns=NAMES)
    write_tsv(table, out_table)
    if out_mip is not None:
        plot_mip(image, labels, excluded, table.iloc[0], f"{patient} {timepoint}", Path(out_mip))
