"""Per-lesion pyradiomics features: each lesion is cropped out of the scan once, then extracted on its own.

pyradiomics only looks at the lesion's bounding box (texture) and that box plus one voxel (shape), so extracting on a
crop padded by ``padDistance`` gives exactly the values of ``extractor.execute(full_image, full_labels, label=k)``
(tested) for the original image. Filtered images (LoG, wavelet) are filtered from the crop, as pyradiomics filters the
image it is given: equal where the filter's reach lies within the padding (the wavelet's at level 1), close otherwise
(LoG's recursive Gaussian: a few per cent, measured). Two preprocessing steps depend on more than the crop and are
done as pyradiomics does them, on the full scan: ``normalize`` (mean/sd of the whole image), once per scan before
cropping, and resampling (its grid is anchored at the full image's voxel 0), per lesion on the full image, when
``resampledPixelSpacing`` is set.

A lesion that touches a face of the image may go on beyond the field of view (a scan cut at the skull base or the
thighs). With ``border="keep"`` (the default) it is ``truncated``: first-order and texture features describe its
voxels in the image, exactly as pyradiomics on that image gives them (its crop stops at the border, as ours does, and
the texture matrices never look outside the mask, so no padding is needed; filtered images are those of the crop,
and near the border they depend on how the filter extends the image, e.g. periodically for the wavelet, so there they
differ from pyradiomics on the whole scan, which extends the whole image); shape features, which the cut lesion does
not have, are not computed (NaN); ``volume_ml`` and the RECIST long axis are lower bounds of the whole lesion's (those
of its visible part), the short axis is NaN (not a bound: ``diameters``), the centroid is the visible part's.
``border="exclude"`` makes it ``failed`` with NaN features (volume, centroid and axes kept, as for every lesion with
voxels).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from wbrad.image import check_geometry
from wbrad.labelmap import centre_of_mass, label_boxes
from wbrad.lesions.columns import FAILED, GEOMETRY_COLUMNS, ID_COLUMNS, OK, TRUNCATED
from wbrad.lesions.diameters import AXIS_COLUMNS, recist_axes

if TYPE_CHECKING:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

log = logging.getLogger(__name__)

BORDER = ("keep", "exclude")  # config lesions.border: what becomes of a lesion touching the image border
SHAPE_CLASSES = ("shape", "shape2D")
SIDES = {"z": ("inferior", "superior"), "y": ("anterior", "posterior"), "x": ("right", "left")}  # identity direction


@cache
def _radiomics() -> ModuleType:
    """pyradiomics, imported on first use (the jobs that only read lesion tables, e.g. delta, do not need it)."""
    import radiomics.featureextractor
    import radiomics.imageoperations

    logging.getLogger("radiomics").setLevel(logging.ERROR)  # after its import, which sets INFO: it logs every step
    return radiomics


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
    border: tuple[str, ...] = ()  # the image faces the lesion touches, e.g. ("z=0 (inferior)", "x=49 (left)")
    error: str = ""  # why features cannot be computed, found while preparing the crop


def make_extractor(params: Path | str | dict[str, Any]) -> RadiomicsFeatureExtractor:
    """An extractor from a parameter file, or from a parameter dict with the file's layout (setting/imageType/...)."""
    return _radiomics().featureextractor.RadiomicsFeatureExtractor(params if isinstance(params, dict) else str(params))


def _extractor_key(extractor: RadiomicsFeatureExtractor) -> str:
    return json.dumps([extractor.settings, extractor.enabledFeatures, extractor.enabledImagetypes], sort_keys=True,
                      default=str)


@lru_cache(maxsize=16)
def _columns_for(key: str) -> tuple[str, ...]:
    # the key comes from an extractor that make_extractor validated: pyradiomics' schema check (pykwalify, 0.08 s a
    # job) need not run again on the same settings
    extractor = _radiomics().featureextractor.RadiomicsFeatureExtractor()
    extractor.settings, extractor.enabledFeatures, extractor.enabledImagetypes = json.loads(key)
    z, y, x = np.mgrid[:24, :24, :24]
    sphere = ((z - 11.5) ** 2 + (y - 11.5) ** 2 + (x - 11.5) ** 2 <= 64).astype(np.uint8)
    # four grey levels: enough for every texture matrix, and small ones (a fine SUV bin width over a wide range of
    # values makes GLCM features such as MCC cost seconds)
    values = np.random.default_rng(0).integers(0, 4, sphere.shape) * float(extractor.settings.get("binWidth") or 1.0)
    result = extractor.execute(sitk.GetImageFromArray(values), sitk.GetImageFromArray(sphere), label=1)
    return tuple(name for name in result if not name.startswith("diagnostics_"))


def feature_columns(extractor: RadiomicsFeatureExtractor) -> list[str]:
    """The extractor's feature names in pyradiomics' order, found once per settings by running it on a sphere."""
    return list(_columns_for(_extractor_key(extractor)))


def crop_lesions(image: sitk.Image, labels: sitk.Image, pad: int, lesion_ids: Iterable[int] | None = None,
                 boxes: Sequence[tuple[slice, ...] | None] | None = None) -> list[LesionCrop]:
    """Cut every lesion (or the requested ids) out of image and label map, the box padded by ``pad`` voxels.
    ``boxes``: the map's ``label_boxes`` where the caller has it (one pass over the map per job)."""
    label_arr = sitk.GetArrayViewFromImage(labels)  # [z, y, x]
    if not np.issubdtype(label_arr.dtype, np.integer):
        raise ValueError(f"lesion map must be an integer image, is {labels.GetPixelIDTypeAsString()}")
    boxes = label_boxes(label_arr) if boxes is None else boxes
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
        centre = np.add(centre_of_mass(binary), lo)[::-1]
        crops.append(
            LesionCrop(
                k,
                img_crop,
                mask_crop,
                int(binary.sum()),
                binary.sum() * voxel_ml,
                image.TransformContinuousIndexToPhysicalPoint(centre.tolist()),
                recist_axes(binary.astype(bool), image.GetSpacing()),
                _touching(box, label_arr.shape),
            )
        )
    return crops


def face_names(low: Sequence[bool], high: Sequence[bool], shape: Sequence[int]) -> list[str]:
    """The faces of a [z, y, x] grid of ``shape`` flagged in ``low`` (index 0) and ``high`` (the last index), named
    with their side of the patient: ``z=0 (inferior)``, ``x=49 (left)``."""
    names = []
    for axis, at_low, at_high, n in zip("zyx", low, high, shape, strict=True):
        below, above = SIDES[axis]
        names += [f"{axis}=0 ({below})"] * bool(at_low) + [f"{axis}={n - 1} ({above})"] * bool(at_high)
    return names


def _touching(box: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[str, ...]:
    """The names of the image faces that a [z, y, x] box touches."""
    return tuple(face_names([s.start == 0 for s in box], [s.stop == n for s, n in zip(box, shape, strict=True)], shape))


def _shapeless(extractor: RadiomicsFeatureExtractor) -> RadiomicsFeatureExtractor:
    """A copy of the extractor without the shape classes (a lesion cut by the border has no shape to measure)."""
    extractor = copy.deepcopy(extractor)
    for cls in SHAPE_CLASSES:
        extractor.enableFeatureClassByName(cls, enabled=False)
    return extractor


def _features(extractor: RadiomicsFeatureExtractor, crop: LesionCrop, border: str) -> tuple[dict[str, float], str]:
    """Features of one crop and '' , or {} and the reason they cannot be computed. Never raises."""
    if crop.error:
        return {}, crop.error
    if crop.image is None:
        return {}, f"label {crop.lesion} not present in the lesion map"
    if crop.border and border == "exclude":
        return {}, (f"touches the image border at {', '.join(crop.border)}: may extend beyond the field of view "
                    "(lesions.border: exclude)")
    if crop.n_voxels < 2:
        return {}, f"too small: {crop.n_voxels} voxel"
    try:
        result = (_shapeless(extractor) if crop.border else extractor).execute(crop.image, crop.mask, label=1)
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


def _row(extractor: RadiomicsFeatureExtractor, border: str, crop: LesionCrop) -> dict[str, Any]:
    features, failure = _features(extractor, crop, border)
    truncated = bool(crop.border) and not failure
    x, y, z = crop.centroid_mm
    return {
        "lesion": crop.lesion,
        "status": FAILED if failure else TRUNCATED if truncated else OK,
        "reason": failure or (f"touches the image border at {', '.join(crop.border)}: shape features and short "
                              "axis NA" if truncated else pd.NA),
        "volume_ml": crop.volume_ml,
        "centroid_x_mm": x,
        "centroid_y_mm": y,
        "centroid_z_mm": z,
        **dict(zip(AXIS_COLUMNS, (crop.axes_mm[0], np.nan) if truncated else crop.axes_mm, strict=True)),
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
    normalized = _radiomics().imageoperations.normalizeImage(image, **extractor.settings)
    return _without(extractor, normalize=False), normalized


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
            resample = _radiomics().imageoperations.resampleImage
            crop.image, crop.mask = resample(image, binary, **{**settings, "label": 1})
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
    border: str = "keep",
    boxes: Sequence[tuple[slice, ...] | None] | None = None,
) -> pd.DataFrame:
    """One row per lesion: ``lesion, status, reason``, volume and centroid, RECIST axes, then every feature column
    (NaN if failed; shape features NaN if truncated).

    ``lesion_ids`` defaults to the labels present; a requested id absent from the map gives a failed row.
    ``threads`` worker processes extract lesions in parallel; ``tag`` (e.g. ``P001 baseline ct``) prefixes log lines.
    ``border`` (``keep`` or ``exclude``) decides what becomes of a lesion touching the image border (module docstring).
    ``boxes``: the label map's ``label_boxes``, if the caller has it.
    """
    if border not in BORDER:
        raise ValueError(f"unknown border handling {border!r}; choose one of {BORDER}")
    check_geometry(labels, image, f"{tag}: lesion map", "the image")
    columns = feature_columns(extractor)
    extractor, image = _normalized(extractor, image)
    crops = crop_lesions(image, labels, int(extractor.settings.get("padDistance", 5)), lesion_ids, boxes)
    extractor = _resampled(extractor, image, labels, crops)
    rows = _map(partial(_row, extractor, border), crops, threads, tag)
    numeric = GEOMETRY_COLUMNS + AXIS_COLUMNS + columns
    table = pd.DataFrame(rows, columns=ID_COLUMNS + numeric)
    table["lesion"] = table["lesion"].astype("int64")
    table[numeric] = table[numeric].astype("float64")
    return table
