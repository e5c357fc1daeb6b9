"""Per-lesion pyradiomics features: each lesion is cropped out of the scan once, then extracted on its own.

pyradiomics only looks at the lesion's bounding box (texture) and that box plus one voxel (shape), so extracting on a
crop padded by ``padDistance`` gives exactly the values of ``extractor.execute(full_image, full_labels, label=k)``
(tested). Two preprocessing steps depend on more than the crop and are done as pyradiomics does them, on the full
scan: ``normalize`` (mean/sd of the whole image), once per scan before cropping, and resampling (its grid is anchored
at the full image's voxel 0), per lesion on the full image, when ``resampledPixelSpacing`` is set.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
from radiomics import imageoperations
from radiomics.featureextractor import RadiomicsFeatureExtractor
from scipy import ndimage

from wbrad.image import check_geometry
from wbrad.lesions.diameters import AXIS_COLUMNS, recist_axes

log = logging.getLogger(__name__)

ID_COLUMNS = ["lesion", "status", "reason"]
GEOMETRY_COLUMNS = ["volume_ml", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]

logging.getLogger("radiomics").setLevel(logging.ERROR)  # pyradiomics logs every step at INFO


@dataclass
class LesionCrop:
    """One lesion cut out of the scan: image and binary (0/1) mask on the same cropped grid."""

    lesion: int
    image: sitk.Image | None  # None when the label is absent from the map
    mask: sitk.Image | None
    n_voxels: int
    volume_ml: float
    centroid_mm: tuple[float, float, float]
    axes_mm: tuple[float, float] = (np.nan, np.nan)  # RECIST long and short axis on the native grid
    error: str = ""  # why features cannot be computed, found while preparing the crop


def make_extractor(params: Path | str | dict[str, Any]) -> RadiomicsFeatureExtractor:
    """An extractor from a parameter file, or from a parameter dict with the file's layout (setting/imageType/...)."""
    return RadiomicsFeatureExtractor(params if isinstance(params, dict) else str(params))


def _extractor_key(extractor: RadiomicsFeatureExtractor) -> str:
    return json.dumps([extractor.settings, extractor.enabledFeatures, extractor.enabledImagetypes], sort_keys=True,
                      default=str)


@lru_cache(maxsize=16)
def _columns_for(key: str) -> tuple[str, ...]:
    settings, features, image_types = json.loads(key)
    extractor = RadiomicsFeatureExtractor({"setting": settings, "featureClass": features, "imageType": image_types})
    z, y, x = np.mgrid[:24, :24, :24]
    sphere = ((z - 11.5) ** 2 + (y - 11.5) ** 2 + (x - 11.5) ** 2 <= 64).astype(np.uint8)
    # four grey levels: enough for every texture matrix, and small ones (a fine SUV bin width over a wide range of
    # values makes GLCM features such as MCC cost seconds)
    values = np.random.default_rng(0).integers(0, 4, sphere.shape) * float(settings.get("binWidth") or 1.0)
    result = extractor.execute(sitk.GetImageFromArray(values), sitk.GetImageFromArray(sphere), label=1)
    return tuple(name for name in result if not name.startswith("diagnostics_"))


def feature_columns(extractor: RadiomicsFeatureExtractor) -> list[str]:
    """The extractor's feature names in pyradiomics' order, found once per settings by running it on a sphere."""
    return list(_columns_for(_extractor_key(extractor)))


def crop_lesions(image: sitk.Image, labels: sitk.Image, pad: int,
                 lesion_ids: Iterable[int] | None = None) -> list[LesionCrop]:
    """Cut every lesion (or the requested ids) out of image and label map, the box padded by ``pad`` voxels."""
    label_arr = sitk.GetArrayViewFromImage(labels)  # [z, y, x]
    if not np.issubdtype(label_arr.dtype, np.integer):
        raise ValueError(f"lesion map must be an integer image, is {labels.GetPixelIDTypeAsString()}")
    boxes = ndimage.find_objects(label_arr)
    present = [k for k, box in enumerate(boxes, 1) if box is not None]  # no full-size copy, unlike np.unique
    ids = sorted(int(k) for k in (lesion_ids if lesion_ids is not None else present) if k > 0)
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    crops = []
    for k in ids:
        box = boxes[k - 1] if k <= len(boxes) else None
        if box is None:
            crops.append(LesionCrop(k, None, None, 0, np.nan, (np.nan, np.nan, np.nan)))
            continue
        lo = [max(s.start - pad, 0) for s in box]
        hi = [min(s.stop + pad, n) for s, n in zip(box, label_arr.shape, strict=True)]
        zyx = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        binary = (label_arr[zyx] == k).astype(np.uint8)
        xyz = tuple(reversed(zyx))
        img_crop = image[xyz]  # SimpleITK slicing keeps spacing/direction and sets the crop's origin
        mask_crop = sitk.GetImageFromArray(binary)
        mask_crop.CopyInformation(img_crop)
        centre = np.add(ndimage.center_of_mass(binary), lo)[::-1]
        crops.append(
            LesionCrop(
                k,
                img_crop,
                mask_crop,
                int(binary.sum()),
                binary.sum() * voxel_ml,
                image.TransformContinuousIndexToPhysicalPoint(centre.tolist()),
                recist_axes(binary.astype(bool), image.GetSpacing()),
                _cut_by_border(box, label_arr.shape),
            )
        )
    return crops


def _cut_by_border(box: tuple[slice, ...], shape: tuple[int, ...]) -> str:
    """Why a lesion that touches a face of the image cannot be measured: it may go on beyond the field of view."""
    faces = [
        f"{axis}={'0' if s.start == 0 else n - 1}"
        for axis, s, n in zip("zyx", box, shape, strict=True)
        if s.start == 0 or s.stop == n
    ]
    return f"touches the image border ({', '.join(faces)}): may extend beyond the field of view" if faces else ""


def _features(extractor: RadiomicsFeatureExtractor, crop: LesionCrop) -> tuple[dict[str, float], str]:
    """Features of one crop and '' , or {} and the reason they cannot be computed. Never raises."""
    if crop.error:
        return {}, crop.error
    if crop.image is None:
        return {}, f"label {crop.lesion} not present in the lesion map"
    if crop.n_voxels < 2:
        return {}, f"too small: {crop.n_voxels} voxel"
    try:
        result = extractor.execute(crop.image, crop.mask, label=1)
        return {k: _real(k, v) for k, v in result.items() if not k.startswith("diagnostics_")}, ""
    except Exception as exc:  # one lesion's failure must not stop the scan
        return {}, f"{type(exc).__name__}: {exc}".replace("\t", " ").replace("\n", " ")


def _real(name: str, value: Any) -> float:
    """A feature value as float. pyradiomics' shape axes come from ``numpy.linalg.eigvals`` and are complex with a
    rounding-noise imaginary part when two axes are equal; a larger imaginary part is an error."""
    value = complex(value)
    if abs(value.imag) > 1e-9 * max(1.0, abs(value.real)):
        raise ValueError(f"{name} is complex: {value}")
    return value.real


def _row(extractor: RadiomicsFeatureExtractor, crop: LesionCrop) -> dict[str, Any]:
    features, reason = _features(extractor, crop)
    x, y, z = crop.centroid_mm
    return {
        "lesion": crop.lesion,
        "status": "failed" if reason else "ok",
        "reason": reason or pd.NA,
        "volume_ml": crop.volume_ml,
        "centroid_x_mm": x,
        "centroid_y_mm": y,
        "centroid_z_mm": z,
        **dict(zip(AXIS_COLUMNS, crop.axes_mm, strict=True)),
        **features,
    }


def _without(extractor: RadiomicsFeatureExtractor, **settings: Any) -> RadiomicsFeatureExtractor:
    """A copy of the extractor with some settings replaced."""
    extractor = copy.deepcopy(extractor)
    extractor.settings.update(settings)
    return extractor


def _normalized(
    extractor: RadiomicsFeatureExtractor, image: sitk.Image
) -> tuple[RadiomicsFeatureExtractor, sitk.Image]:
    """Whole-image normalisation, once, if the settings ask for it, and an extractor that skips it."""
    if not extractor.settings.get("normalize", False):
        return extractor, image
    return _without(extractor, normalize=False), imageoperations.normalizeImage(image, **extractor.settings)


def _resampled(
    extractor: RadiomicsFeatureExtractor, image: sitk.Image, labels: sitk.Image, crops: list[LesionCrop]
) -> RadiomicsFeatureExtractor:
    """If the settings ask for resampling, replace each crop by pyradiomics' resampling of the full image around
    the lesion (its grid depends on the full image), and return an extractor that skips it."""
    settings = extractor.settings
    if settings.get("interpolator") is None or settings.get("resampledPixelSpacing") is None:
        return extractor
    for crop in (c for c in crops if c.image is not None):
        try:
            binary = labels == crop.lesion  # full-size: pyradiomics anchors the new grid at the scan's voxel 0
            crop.image, crop.mask = imageoperations.resampleImage(image, binary, **{**settings, "label": 1})
        except Exception as exc:
            crop.error = f"resampling failed: {type(exc).__name__}: {exc}"
    return _without(extractor, resampledPixelSpacing=None)


def _map(
    fn: Callable[[LesionCrop], dict[str, Any]], crops: Sequence[LesionCrop], workers: int, tag: str
) -> list[dict[str, Any]]:
    """``fn`` over the crops in order, in ``workers`` processes (pyradiomics' C code holds the GIL, so threads do
    not help: measured)."""
    parallel = workers > 1 and len(crops) > 1
    rows = []
    with ProcessPoolExecutor(min(workers, len(crops))) if parallel else nullcontext() as pool:
        for i, row in enumerate(pool.map(fn, crops) if parallel else map(fn, crops), 1):
            log.info("%s: lesion %d/%d done (label %d, %s)", tag, i, len(crops), row["lesion"], row["status"])
            rows.append(row)
    return rows


def extract_lesions(
    image: sitk.Image,
    labels: sitk.Image,
    extractor: RadiomicsFeatureExtractor,
    lesion_ids: Iterable[int] | None = None,
    threads: int = 1,
    tag: str = "scan",
) -> pd.DataFrame:
    """One row per lesion: ``lesion, status, reason``, volume and centroid, RECIST axes, then every feature column
    (NaN if failed).

    ``lesion_ids`` defaults to the labels present; a requested id absent from the map gives a failed row.
    ``threads`` worker processes extract lesions in parallel; ``tag`` (e.g. ``P001 baseline ct``) prefixes log lines.
    """
    check_geometry(labels, image, f"{tag}: lesion map", "the image")
    columns = feature_columns(extractor)
    extractor, image = _normalized(extractor, image)
    crops = crop_lesions(image, labels, int(extractor.settings.get("padDistance", 5)), lesion_ids)
    extractor = _resampled(extractor, image, labels, crops)
    rows = _map(partial(_row, extractor), crops, threads, tag)
    numeric = GEOMETRY_COLUMNS + AXIS_COLUMNS + columns
    table = pd.DataFrame(rows, columns=ID_COLUMNS + numeric)
    table["lesion"] = table["lesion"].astype("int64")
    table[numeric] = table[numeric].astype("float64")
    return table
