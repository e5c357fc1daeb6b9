"""PET in SUV on its own, coarser grid: organ uptake from the phantom's labels, physiological uptake where FDG has it
(myocardium, urine in the renal collecting systems and the bladder), hot lesions, multiplicative noise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from wbrad.synth.grid import Grid
from wbrad.synth.lesions import Lesion, _depth, _local, uptake
from wbrad.synth.phantom import LUNG, MUSCLE, VERTEBRAE, Layout, Tissue, paint_bladder, render_labels

NOISE = 0.06  # relative, clipped at +-2.5 sd
BLOOD_POOL = 1.8  # SUV inside the heart
MYOCARDIUM_MM = 10.0  # the heart's outer shell of this thickness is myocardium
COLLECTING_DEPTH_MM = 9.0  # kidney voxels at least this deep hold urine (the collecting system)
BLADDER_GAP_MM = 12.0  # the bladder keeps this far from every lesion (farther than the lesion-site shell)
BURDEN_SUV, BURDEN_MIN_ML = 4.0, 3.0  # the truth's tumour burden: SUV >= 4 in lesions of >= 3 cm3 (Boellaard 2024)


@dataclass(frozen=True)
class Physiology:
    """One patient's physiological uptake (SUV): the myocardium varies with fasting and insulin, from below the blood
    pool's to far above SUV 4; urine is hot in the collecting systems and the bladder."""

    myocardium: float
    urine: float
    bladder: float

    def as_dict(self) -> dict[str, float]:
        return {"myocardium_suv": self.myocardium, "urine_suv": self.urine, "bladder_suv": self.bladder}


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def draw_physiology(rng: np.random.Generator) -> Physiology:
    """Myocardium SUV 1.5-12 (below 4 for about half the patients), urine 5-20, bladder 6-30 (log-uniform)."""
    return Physiology(_log_uniform(rng, 1.5, 12.0), _log_uniform(rng, 5.0, 20.0), _log_uniform(rng, 6.0, 30.0))


def suv_table(liver_suv: float, bladder_suv: float) -> np.ndarray:
    """Mean SUV per tissue label."""
    table = np.zeros(Tissue.VERTEBRA + len(VERTEBRAE), np.float32)
    values = {Tissue.SAT: 0.35, Tissue.VAT: 0.45, Tissue.BOWEL: 1.3, Tissue.HEART: BLOOD_POOL, Tissue.LIVER: liver_suv,
              Tissue.SPLEEN: 0.9 * liver_suv, Tissue.KIDNEY_LEFT: 3.5, Tissue.KIDNEY_RIGHT: 3.5, Tissue.AORTA: 1.6,
              Tissue.ILIAC_ARTERY_LEFT: 1.6, Tissue.ILIAC_ARTERY_RIGHT: 1.6, Tissue.DISC: 0.6,
              Tissue.URINARY_BLADDER: bladder_suv}
    for tissue, suv in values.items():
        table[tissue] = suv
    table[list(MUSCLE)] = 0.8
    table[list(LUNG)] = 0.35
    table[Tissue.VERTEBRA:] = 1.1
    return table


def physiological_uptake(labels: np.ndarray, suv: np.ndarray, spacing_zyx: tuple[float, ...],
                         physiology: Physiology) -> None:
    """Paint into ``suv`` (in place) the myocardium, the heart's shell of ``MYOCARDIUM_MM``, and the urine of each
    kidney's collecting system, its voxels at least ``COLLECTING_DEPTH_MM`` deep."""
    heart = labels == Tissue.HEART
    suv[heart & (_depth(heart, spacing_zyx) <= MYOCARDIUM_MM)] = physiology.myocardium
    for tissue in (Tissue.KIDNEY_LEFT, Tissue.KIDNEY_RIGHT):
        kidney = labels == tissue
        suv[kidney & (_depth(kidney, spacing_zyx) >= COLLECTING_DEPTH_MM)] = physiology.urine


def bladder_avoid(lesions: list[Lesion]) -> list[tuple[np.ndarray, float]]:
    """Spheres (centre, radius in mm) around every lesion at its largest, grown by ``BLADDER_GAP_MM``: where the
    bladder is not (``phantom.paint_bladder``)."""
    return [(np.asarray(le.centre_mm), float(np.max(le.semi_mm)) * le.envelope + BLADDER_GAP_MM) for le in lesions]


def render_pet(lay: Layout, lesions: list[Lesion], timepoint: str, grid: Grid, rng: np.random.Generator,
               physiology: Physiology, noise: bool = True,
               blur_voxels: float | tuple[float, float, float] = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """SUV volume (float32, ``[z, y, x]``) on ``grid``: smooth organ and physiological uptake, unblurred lesion
    profiles, noise (``pet_noise``; left out without ``noise``); and the lesion that sets each voxel's SUV (uint16
    label, 0 where no lesion's uptake exceeds the organs'), which defines the truth's tumour burden. The organs are
    blurred by ``blur_voxels`` (per ``[z, y, x]`` axis or one for all; a finer grid passes more voxels for the same
    blur in mm)."""
    labels, _ = render_labels(lay, grid)
    paint_bladder(labels, lay, grid, bladder_avoid(lesions))
    organs = suv_table(rng.uniform(1.9, 2.1), physiology.bladder)[labels]
    physiological_uptake(labels, organs, grid.spacing_mm[::-1], physiology)
    suv = ndimage.gaussian_filter(organs, blur_voxels)
    owner = np.zeros(suv.shape, np.uint16)
    for lesion in lesions:
        if timepoint in lesion.scale:
            scale = lesion.scale[timepoint]
            box, q = _local(lesion, grid, scale, pad_mm=0.5 * float(np.max(lesion.semi_mm)) * scale)
            value = uptake(lesion, q)
            mine = value > suv[box]
            suv[box] = np.where(mine, value, suv[box])
            owner[box][mine] = lesion.label
    return (pet_noise(suv, rng) if noise else suv), owner


def pet_noise(suv: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``suv`` times multiplicative noise (relative sd ``NOISE``, clipped at 2.5 sd), as float32."""
    noise = np.clip(rng.normal(1, NOISE, suv.shape), 1 - 2.5 * NOISE, 1 + 2.5 * NOISE)
    return (suv * noise).astype(np.float32)


def burden_truth(suv: np.ndarray, owner: np.ndarray, voxel_ml: float) -> tuple[dict[int, float], dict[str, float]]:
    """Per lesion the volume (ml) of its voxels with SUV >= 4, and the scan's true burden: ``tmtv_ml``, their sum over
    the lesions where it is >= 3 cm3, and ``lesion_count``, the number of such lesions."""
    counts = np.bincount(owner[suv >= BURDEN_SUV].ravel(), minlength=int(owner.max()) + 1)
    volumes = {k: float(n) * voxel_ml for k, n in enumerate(counts) if k}
    counted = [v for v in volumes.values() if v >= BURDEN_MIN_ML - 1e-9]
    return volumes, {"threshold_suv": BURDEN_SUV, "min_volume_ml": BURDEN_MIN_ML, "tmtv_ml": float(sum(counted)),
                     "lesion_count": len(counted)}


def suvmax_per_lesion(pet: sitk.Image, lesion_map: sitk.Image) -> dict[int, float | None]:
    """SUVmax of each lesion over the PET voxels that the CT lesion map covers (nearest-neighbour on the PET grid)."""
    on_pet = sitk.GetArrayFromImage(
        sitk.Resample(lesion_map, pet, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt16))
    suv = sitk.GetArrayFromImage(pet)
    labels = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(lesion_map)) if v]
    present = set(np.unique(on_pet).tolist())
    return {k: (float(ndimage.maximum(suv, on_pet, k)) if k in present else None) for k in labels}
