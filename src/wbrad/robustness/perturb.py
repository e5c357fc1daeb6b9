"""Per-lesion image perturbation: the features of N perturbed copies of each lesion, for an ICC per feature.

Method: Zwanenburg A, Leger S, Agolli L, et al. "Assessing robustness of radiomic features by image perturbation",
Sci Rep 2019;9:614. Of their perturbation chains, the one combining noise addition (N), translation (T), volume
adaptation (V) and contour randomisation (C) is built here; each of the ``Chain.n`` perturbations of a lesion draws
its own random parameters and applies, in this order:

1. **Noise addition**: Gaussian noise of the image's noise SD, estimated on the lesion's padded box by the wavelet
   method of Chang, Yu and Vetterli (IEEE Trans Image Process 2000; 9:1532): median |HH| / 0.6745 of the finest
   in-plane diagonal subband (``coif1``), the default estimator of MIRP, the paper's software (``estimate_noise_sd``).
2. **Translation**: image and mask resampled on a grid shifted by a random fraction (uniform in [0, 1)) of a voxel
   along each axis; the image with B-splines, the mask linearly and thresholded at 0.5, as in the paper.
3. **Contour randomisation** (simplified; the paper samples SLIC supervoxels): the mask's signed distance map (mm)
   plus a smooth Gaussian random field (white noise Gaussian-filtered with ``contour_smooth_mm``, scaled to SD
   ``contour_sd_mm``, default one in-plane voxel) is thresholded at zero, so the boundary moves in and out smoothly
   by about that much.
4. **Volume adaptation**: the mask grows or shrinks to (1 + f) times the original lesion's voxel count, f uniform in
   ``volume`` (default -20 %..+20 %), adding the outside voxels nearest to the mask, or removing the inside voxels
   nearest to its boundary, by Euclidean distance in mm (ties broken at random).

Every perturbed lesion goes through THE SAME pyradiomics extractor (``wbrad.lesions.extract.make_extractor`` of the
lesion stage's parameter file) via ``extract_lesions`` on the perturbed crop, so the features and columns are those
of ``lesions_<modality>.tsv``. Each lesion is cut out once, padded by ``padDistance + margin`` voxels; settings that
depend on the whole scan (``normalize``, the resampling grid) are then taken from the crop, not the full image.
Deterministic: lesion ``k``'s perturbation ``j`` uses ``numpy.random.default_rng([seed, k, j])``, whatever the
order or the number of workers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import pywt
import SimpleITK as sitk
from radiomics.featureextractor import RadiomicsFeatureExtractor
from scipy import ndimage

from wbrad.lesions.extract import LesionCrop, crop_lesions, extract_lesions
from wbrad.robustness import PERTURBATION

log = logging.getLogger(__name__)

MAD_TO_SD = 0.6745  # median |N(0, 1)|


@dataclass(frozen=True)
class Chain:
    """The perturbation chain's settings (module docstring); a step is off with ``noise=False``,
    ``translate=False``, ``contour_sd_mm=0`` or ``volume=None``."""

    n: int = 10
    noise: bool = True
    noise_sd: float | None = None  # None: estimated per lesion (Chang et al. 2000)
    translate: bool = True
    contour_sd_mm: float | None = None  # None: the mean in-plane voxel spacing
    contour_smooth_mm: float | None = None  # None: twice the contour SD
    volume: tuple[float, float] | None = (-0.2, 0.2)
    margin: int = 3  # voxels of room beyond padDistance for translation, growth and contour changes
    seed: int = 0


def estimate_noise_sd(image: sitk.Image) -> float:
    """Noise SD of an image: median |HH| / 0.6745 of the finest in-plane diagonal wavelet subband (Chang, Yu and
    Vetterli 2000, as MIRP estimates it)."""
    high = np.asarray(pywt.Wavelet("coif1").dec_hi)
    arr = sitk.GetArrayFromImage(image).astype(np.float64)  # [z, y, x]
    hh = ndimage.convolve1d(ndimage.convolve1d(arr, high, axis=1), high, axis=2)
    return float(np.median(np.abs(hh)) / MAD_TO_SD)


def translate(image: sitk.Image, mask: sitk.Image, shift: Sequence[float]) -> tuple[sitk.Image, sitk.Image]:
    """Image (B-spline) and mask (linear, >= 0.5) resampled on their grid shifted by ``shift`` voxels (x, y, z)."""
    origin = np.asarray(image.GetOrigin())
    offset = np.asarray(image.TransformContinuousIndexToPhysicalPoint([float(s) for s in shift])) - origin
    transform = sitk.TranslationTransform(3, offset.tolist())
    moved = sitk.Resample(image, image, transform, sitk.sitkBSpline, 0.0, sitk.sitkFloat64, True)
    soft = sitk.Resample(sitk.Cast(mask, sitk.sitkFloat32), mask, transform, sitk.sitkLinear, 0.0,
                         sitk.sitkFloat32, True)
    return moved, sitk.Cast(soft >= 0.5, sitk.sitkUInt8)


def adapt_volume(mask: np.ndarray, n_target: int, spacing_zyx: Sequence[float],
                 rng: np.random.Generator) -> np.ndarray:
    """``mask`` grown or shrunk to ``n_target`` voxels (at least 1): the outside voxels nearest to it are added, or
    the inside voxels nearest to its boundary removed (Euclidean distance in mm, ties at random)."""
    mask = mask.astype(bool)
    n = int(mask.sum())
    n_target = max(int(n_target), 1)
    if n_target == n or n == 0:
        return mask
    grow = n_target > n
    region = ~mask if grow else mask
    distance = ndimage.distance_transform_edt(region, sampling=spacing_zyx)
    candidates = np.flatnonzero(region)
    order = candidates[np.lexsort((rng.random(candidates.size), distance.ravel()[candidates]))]
    out = mask.ravel().copy()
    out[order[: abs(n_target - n)]] = grow
    return out.reshape(mask.shape)


def randomise_contour(mask: np.ndarray, spacing_zyx: Sequence[float], rng: np.random.Generator,
                      sd_mm: float, smooth_mm: float) -> np.ndarray:
    """The boundary moved by a smooth random field of SD ``sd_mm`` (correlation length ``smooth_mm``): the signed
    distance map (mm, negative inside) plus the field, thresholded at zero. The original mask if the result is
    empty."""
    mask = mask.astype(bool)
    if sd_mm <= 0 or not mask.any():
        return mask
    spacing = np.asarray(spacing_zyx, float)
    signed = ndimage.distance_transform_edt(~mask, sampling=spacing) - ndimage.distance_transform_edt(
        mask, sampling=spacing)
    signed = np.where(mask, signed + 0.5 * spacing.min(), signed - 0.5 * spacing.min())  # boundary halfway
    field = ndimage.gaussian_filter(rng.standard_normal(mask.shape), sigma=smooth_mm / spacing, mode="wrap")
    field *= sd_mm / max(float(field.std()), 1e-12)
    out = signed + field < 0
    return out if out.any() else mask


def _steps(crop: LesionCrop, chain: Chain, rng: np.random.Generator, noise_sd: float) -> tuple[sitk.Image, sitk.Image]:
    """One perturbation of a lesion crop: noise, translation, contour randomisation, volume adaptation."""
    image = sitk.Cast(crop.image, sitk.sitkFloat64)
    mask = crop.mask
    if chain.noise and noise_sd > 0:
        arr = sitk.GetArrayViewFromImage(image)
        noisy = sitk.GetImageFromArray(arr + rng.normal(0.0, noise_sd, arr.shape))
        noisy.CopyInformation(image)
        image = noisy
    if chain.translate:
        image, mask = translate(image, mask, rng.uniform(0.0, 1.0, 3))
    spacing = image.GetSpacing()[::-1]
    binary = sitk.GetArrayFromImage(mask).astype(bool)
    sd = float(np.mean(image.GetSpacing()[:2])) if chain.contour_sd_mm is None else chain.contour_sd_mm
    binary = randomise_contour(binary, spacing, rng, sd, chain.contour_smooth_mm or 2 * sd)
    if chain.volume is not None:
        binary = adapt_volume(binary, round((1 + rng.uniform(*chain.volume)) * crop.n_voxels), spacing, rng)
    out = sitk.GetImageFromArray(binary.astype(np.uint8))
    out.CopyInformation(image)
    return image, out


def _lesion_rows(extractor: RadiomicsFeatureExtractor, chain: Chain, border: str, tag: str,
                 crop: LesionCrop) -> pd.DataFrame:
    """The n perturbations of one lesion through the extractor: ``lesion, perturbation``, then extract's columns."""
    noise_sd = estimate_noise_sd(crop.image) if chain.noise_sd is None else chain.noise_sd
    tables = []
    for j in range(1, chain.n + 1):
        image, mask = _steps(crop, chain, np.random.default_rng([chain.seed, crop.lesion, j]), noise_sd)
        tables.append(extract_lesions(image, mask, extractor, tag=f"{tag} lesion {crop.lesion} perturbation {j}",
                                      border=border).drop(columns="lesion"))
    log.info("%s: lesion %d perturbed %d times (noise SD %.4g)", tag, crop.lesion, chain.n, noise_sd)
    keys = pd.DataFrame({"lesion": crop.lesion, PERTURBATION: np.arange(1, chain.n + 1)})
    return pd.concat([keys, pd.concat(tables, ignore_index=True)], axis=1)


def perturbed_features(image: sitk.Image, labels: sitk.Image, extractor: RadiomicsFeatureExtractor,
                       chain: Chain = Chain(), lesion_ids: Iterable[int] | None = None, workers: int = 1,
                       tag: str = "scan", border: str = "keep") -> pd.DataFrame:
    """One row per lesion and perturbation: ``lesion, perturbation`` (1..n), then the columns of
    ``extract_lesions`` (status, reason, volume, centroid, axes, features) for the perturbed lesion.

    Lesions absent from the map or under 2 voxels are left out (logged). ``workers`` processes share the lesions.
    """
    pad = int(extractor.settings.get("padDistance", 5)) + chain.margin
    crops = [c for c in crop_lesions(image, labels, pad, lesion_ids) if c.image is not None and c.n_voxels >= 2]
    if not crops:
        log.warning("%s: no lesion of 2 voxels or more to perturb", tag)
        return pd.DataFrame(columns=["lesion", PERTURBATION])
    run = partial(_lesion_rows, extractor, chain, border, tag)
    if workers > 1 and len(crops) > 1:
        with ProcessPoolExecutor(min(workers, len(crops))) as pool:
            tables = list(pool.map(run, crops))
    else:
        tables = [run(c) for c in crops]
    return pd.concat(tables, ignore_index=True).copy()  # one block: extract_lesions builds its frame by columns
