"""Register a follow-up CT onto the baseline CT with SimpleITK's registration framework; save, load and judge it.

The registration is intensity-based and multi-resolution, as in registration-based lesion matching on whole-body PET/CT
(Huff et al., Phys Med Biol 2023): from several starts (bone and body masks' centres of mass, fields' centres, z
offsets) a rigid (Euler 3D) transform is fitted on the whole body on heavily smoothed images and the best kept (the
gross position, where bone alone can lock onto the neighbouring vertebra), then refined on the bone (the metric sampled
only near voxels above ``bone_hu``: the skeleton does not deform between scans); optionally an affine transform on the
body follows (patient size, breathing, posture). Every stage uses Mattes mutual information (robust to contrast
differences between the studies) on images clamped to a CT window, smoothed and resampled to isotropic voxels per level.
A result that overlaps the body masks less than the scans as they lie is replaced by the identity.

ITK convention: the returned transform maps a point of the BASELINE (fixed) frame to the FOLLOW-UP (moving) frame,
so ``sitk.Resample(followup, baseline, transform)`` puts the follow-up on the baseline grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad.image import read_image
from wbrad.io import atomic_path, write_json


@dataclass(frozen=True)
class Level:
    """One stage's resolution levels, coarse to fine: the isotropic voxel size (mm) each level resamples both images
    to (each axis kept at least as coarse as the image's own voxels; 0: the image's own grid) and the Gaussian
    smoothing sigma (mm) applied before."""

    spacing_mm: tuple[float, ...]
    smoothing_mm: tuple[float, ...]


@dataclass(frozen=True)
class Settings:
    """Registration settings.

    ``bone_hu`` and ``body_hu`` threshold the bone and body masks; ``window_hu`` clamps the CT before the metric.
    Stages, each with its resolution ``Level`` (isotropic voxels, so 8 mm slices are not shrunk further along z than
    across): ``coarse``, rigid on the whole body, heavily smoothed (it finds the gross position, where bone alone can
    lock onto the neighbouring vertebra), run at its first level from several starts (the bone masks' centres of mass
    superimposed, the body masks', the fields' centres, each shifted by every one of ``start_z_mm`` along z: where
    the field cuts other bones at the follow-up, the bone moments alone start 20 mm off); the start with the best
    metric goes on; ``bone``, rigid with the metric sampled within ``bone_margin_mm`` of the bone, a level undone if
    it moves a corner of the field by more than ``reach_mm`` (a refinement that jumped a vertebra); ``body``, affine
    on the body, off by default (``affine``): on the test phantom, whose true motion is rigid plus a few mm of
    smooth deformation, it added 0.5-2 mm of error at the lesions and 2-4 s, and the matching's gates absorb what it
    could correct. ``iterations`` is per level; ``sampling`` the share of the masked voxels the metric samples
    (randomly, with ``seed``); ``threads``: ITK's worker threads.
    """

    bone_hu: float = 200.0
    body_hu: float = -300.0
    window_hu: tuple[float, float] = (-300.0, 1200.0)
    bone_margin_mm: float = 6.0
    coarse: Level = Level((12.0, 6.0), (12.0, 6.0))
    bone: Level = Level((4.0, 0.0), (2.0, 0.0))
    body: Level = Level((4.0,), (2.0,))
    start_z_mm: tuple[float, ...] = (0.0, -20.0, 20.0)
    reach_mm: float = 10.0
    iterations: int = 60
    bins: int = 32
    sampling: float = 0.25
    affine: bool = False
    seed: int = 1
    threads: int = 2


DEFAULT_SETTINGS = Settings()
INIT = sitk.CenteredTransformInitializerFilter


def _mask(ct: sitk.Image, hu: float, margin_mm: float = 0.0) -> sitk.Image:
    mask = sitk.Cast(ct > hu, sitk.sitkUInt8)
    if margin_mm > 0:
        mask = sitk.Cast(sitk.SignedMaurerDistanceMap(mask, insideIsPositive=False, squaredDistance=False,
                                                      useImageSpacing=True) <= margin_mm, sitk.sitkUInt8)
    return mask


def _windowed(ct: sitk.Image, s: Settings) -> sitk.Image:
    return sitk.Clamp(sitk.Cast(ct, sitk.sitkFloat32), sitk.sitkFloat32, *s.window_hu)


def _resampled(image: sitk.Image, spacing_mm: float, smoothing_mm: float, labels: bool = False) -> sitk.Image:
    """``image`` smoothed by ``smoothing_mm`` and resampled over the same field to voxels of ``spacing_mm`` (each axis
    no finer than the image's own)."""
    if smoothing_mm > 0 and not labels:
        image = sitk.SmoothingRecursiveGaussian(image, smoothing_mm)
    old = np.asarray(image.GetSpacing())
    new = np.maximum(old, spacing_mm)
    if np.allclose(new, old):
        return image
    size = np.maximum(np.round(np.asarray(image.GetSize()) * old / new), 1).astype(int)
    first = image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in (new / old - 1) / 2))
    return sitk.Resample(image, [int(n) for n in size], sitk.Transform(),
                         sitk.sitkNearestNeighbor if labels else sitk.sitkLinear, first, [float(v) for v in new],
                         image.GetDirection(), 0.0, image.GetPixelID())


def _method(s: Settings, fixed_mask: sitk.Image, step_mm: float = 4.0) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=s.bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(s.sampling, s.seed)
    reg.SetMetricFixedMask(fixed_mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=step_mm, minStep=0.01, numberOfIterations=s.iterations,
                                                 relaxationFactor=0.6, gradientMagnitudeTolerance=1e-6)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetNumberOfThreads(s.threads)
    return reg


@dataclass(frozen=True)
class _Pair:
    """The windowed baseline (fixed) and follow-up (moving) CTs and the fixed mask, at one resolution level."""

    fixed: sitk.Image
    moving: sitk.Image
    mask: sitk.Image

    def at(self, spacing_mm: float, smoothing_mm: float) -> _Pair:
        return _Pair(_resampled(self.fixed, spacing_mm, smoothing_mm),
                     _resampled(self.moving, spacing_mm, smoothing_mm), _resampled(self.mask, spacing_mm, 0.0, True))


def _fit(transform: sitk.Transform, pair: _Pair, level: Level, s: Settings, levels: slice = slice(None),
         reach_mm: float = np.inf) -> float:
    """Optimise ``transform`` in place over ``level``'s resolution levels (``levels`` of them), with first steps of
    half a voxel (at most 4 mm); a level that moves a corner of the fixed field by more than ``reach_mm`` is undone.
    Return the final metric value."""
    value = np.inf
    for spacing, sigma in list(zip(level.spacing_mm, level.smoothing_mm, strict=True))[levels]:
        scaled = pair.at(spacing, sigma)
        reg = _method(s, scaled.mask, min(4.0, min(scaled.fixed.GetSpacing()) / 2))
        before = transform.__class__(transform)
        reg.SetInitialTransform(transform, inPlace=True)
        reg.Execute(scaled.fixed, scaled.moving)
        value = reg.GetMetricValue()
        if displacement_mm(transform, before, _corners(pair.fixed)).max() > reach_mm:
            transform.SetParameters(before.GetParameters())
    return value


def _corners(image: sitk.Image) -> np.ndarray:
    size = np.asarray(image.GetSize()) - 1
    return np.array([image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in size * np.array(c)))
                     for c in np.ndindex(2, 2, 2)])


def _centred(fixed: sitk.Image, moving: sitk.Image, how: int) -> sitk.Euler3DTransform:
    """Euler 3D transform that superimposes the masks' centres of mass (MOMENTS) or the fields' centres (GEOMETRY)."""
    return sitk.Euler3DTransform(sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(), how))


def _starts(baseline_ct: sitk.Image, followup_ct: sitk.Image, s: Settings) -> list[sitk.Euler3DTransform]:
    """Rigid starting points (no rotation): the bone masks', the body masks' and the fields' centres superimposed,
    each shifted by every one of ``start_z_mm``."""
    moments, geometry = INIT.MOMENTS, INIT.GEOMETRY
    centred = [_centred(_mask(baseline_ct, s.bone_hu), _mask(followup_ct, s.bone_hu), moments),
               _centred(_mask(baseline_ct, s.body_hu), _mask(followup_ct, s.body_hu), moments),
               _centred(_windowed(baseline_ct, s), _windowed(followup_ct, s), geometry)]
    out = []
    for base in centred:
        for dz in s.start_z_mm:
            t = sitk.Euler3DTransform(base)
            t.SetTranslation(np.add(base.GetTranslation(), (0.0, 0.0, dz)).tolist())
            out.append(t)
    return out


def _as_affine(rigid: sitk.Euler3DTransform) -> sitk.AffineTransform:
    affine = sitk.AffineTransform(3)
    affine.SetCenter(rigid.GetCenter())
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    return affine


def _coarse(baseline_ct: sitk.Image, followup_ct: sitk.Image, body: _Pair, s: Settings) -> sitk.Euler3DTransform:
    """The coarse rigid fit from the start whose first coarse level ends with the best (lowest) metric."""
    first = body.at(s.coarse.spacing_mm[0], s.coarse.smoothing_mm[0])
    one = Level(s.coarse.spacing_mm[:1], (0.0,))  # ``first`` is already smoothed and resampled
    fits = []
    for start in _starts(baseline_ct, followup_ct, s):
        fits.append((_fit(start, first, one, s), len(fits), start))
    best = min(fits)[2]
    _fit(best, body, s.coarse, s, slice(1, None))
    return best


def register(baseline_ct: sitk.Image, followup_ct: sitk.Image, settings: Settings = DEFAULT_SETTINGS) -> sitk.Transform:
    """The transform from baseline to follow-up points: rigid on the body (coarse, several starts), rigid on bone,
    then (``settings.affine``) affine on the body; the identity instead when the result overlaps the body masks less
    than the scans as they lie. Both CTs are in HU; they need not share a grid."""
    s = settings
    fixed, moving = _windowed(baseline_ct, s), _windowed(followup_ct, s)
    body = _Pair(fixed, moving, _mask(baseline_ct, s.body_hu))
    rigid = _coarse(baseline_ct, followup_ct, body, s)
    _fit(rigid, _Pair(fixed, moving, _mask(baseline_ct, s.bone_hu, s.bone_margin_mm)), s.bone, s, reach_mm=s.reach_mm)
    result: sitk.Transform = rigid
    if s.affine:
        result = _as_affine(rigid)
        _fit(result, body, s.body, s)
    identity = sitk.Euler3DTransform(rigid.GetCenter())
    if _body_dice(baseline_ct, followup_ct, result, s) < _body_dice(baseline_ct, followup_ct, identity, s):
        return identity
    return result


def _dice(a: np.ndarray, b: np.ndarray) -> float | None:
    total = int(a.sum() + b.sum())
    return 2 * int((a & b).sum()) / total if total else None


def _mapped(moving: sitk.Image, fixed: sitk.Image, transform: sitk.Transform) -> np.ndarray:
    out = sitk.Resample(moving, fixed, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayViewFromImage(out).astype(bool)


def _dices(baseline_ct: sitk.Image, followup_ct: sitk.Image, transform: sitk.Transform, s: Settings,
           names: tuple[str, ...] = ("bone", "body")) -> tuple[dict[str, float | None], float]:
    """The Dice of the ``names`` masks (bone, body) after ``transform``, within the part of the baseline that the
    follow-up covers; and that share."""
    ones = sitk.Image(followup_ct.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(followup_ct)
    inside = _mapped(ones, baseline_ct, transform)
    hu = {"bone": s.bone_hu, "body": s.body_hu}
    out = {}
    for name in names:
        fixed = sitk.GetArrayViewFromImage(_mask(baseline_ct, hu[name])).astype(bool)
        out[name] = _dice(fixed & inside, _mapped(_mask(followup_ct, hu[name]), baseline_ct, transform))
    return out, float(inside.mean())


def _body_dice(baseline_ct: sitk.Image, followup_ct: sitk.Image, transform: sitk.Transform, s: Settings) -> float:
    return _dices(baseline_ct, followup_ct, transform, s, ("body",))[0]["body"] or 0.0


def quality(baseline_ct: sitk.Image, followup_ct: sitk.Image, transform: sitk.Transform,
            settings: Settings = DEFAULT_SETTINGS) -> dict[str, float | None]:
    """Numbers for QC: the Dice of the bone masks and of the body masks after registration and without it (identity,
    on physical coordinates), each within the part of the baseline that the follow-up covers, that share
    (``followup_coverage``), and the Mattes mutual information on the body at full resolution after registration
    (more negative is better)."""
    out: dict[str, float | None] = {}
    for when, t in (("registered", transform), ("unregistered", sitk.Transform())):
        dices, coverage = _dices(baseline_ct, followup_ct, t, settings)
        out |= {f"{name}_dice_{when}": v for name, v in dices.items()}
        if when == "registered":
            out["followup_coverage"] = coverage
    reg = _method(settings, _mask(baseline_ct, settings.body_hu))
    reg.SetInitialTransform(transform, inPlace=False)
    reg.SetMetricUseFixedImageGradientFilter(False)  # a value needs no gradient images: the same number, 0.2 s less
    reg.SetMetricUseMovingImageGradientFilter(False)
    out["mattes_mi"] = float(reg.MetricEvaluate(_windowed(baseline_ct, settings), _windowed(followup_ct, settings)))
    return out


def displacement_mm(transform: sitk.Transform, reference: sitk.Transform, points_mm: np.ndarray) -> np.ndarray:
    """How far apart two transforms put each of ``points_mm`` (rows of x, y, z): a target registration error when
    ``reference`` is the true transform."""
    return np.array([np.linalg.norm(np.subtract(transform.TransformPoint(tuple(map(float, p))),
                                                reference.TransformPoint(tuple(map(float, p))))) for p in points_mm])


def save_transform(transform: sitk.Transform, path: str | Path) -> None:
    """Write ``transform`` as an ITK transform file (``.tfm``), atomically, with its integrity record."""
    with atomic_path(path) as tmp:
        sitk.WriteTransform(transform, str(tmp))


def load_transform(path: str | Path) -> sitk.Transform:
    """Read a transform written by :func:`save_transform`."""
    return sitk.ReadTransform(str(path))


def register_followup(baseline_ct: Path, followup_ct: Path, out_transform: Path, out_quality: Path,
                      settings: Settings | None = None) -> None:
    """The transform from the baseline CT's frame to the follow-up's, and its QC numbers."""
    baseline, followup = read_image(baseline_ct), read_image(followup_ct)
    transform = register(baseline, followup, settings or DEFAULT_SETTINGS)
    save_transform(transform, out_transform)
    write_json(quality(baseline, followup, transform), out_quality)
