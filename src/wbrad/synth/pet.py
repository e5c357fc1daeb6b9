"""PET in SUV on its own, coarser grid: organ uptake from the phantom's labels, hot lesions, multiplicative noise."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from wbrad.synth.grid import Grid
from wbrad.synth.lesions import Lesion, _local, uptake
from wbrad.synth.phantom import LUNG, MUSCLE, VERTEBRAE, Layout, Tissue, render_labels

NOISE = 0.06  # relative, clipped at +-2.5 sd


def suv_table(liver_suv: float) -> np.ndarray:
    """Mean SUV per tissue label."""
    table = np.zeros(Tissue.VERTEBRA + len(VERTEBRAE), np.float32)
    values = {Tissue.SAT: 0.35, Tissue.VAT: 0.45, Tissue.BOWEL: 1.3, Tissue.HEART: 2.5, Tissue.LIVER: liver_suv,
              Tissue.SPLEEN: 0.9 * liver_suv, Tissue.KIDNEY_LEFT: 3.5, Tissue.KIDNEY_RIGHT: 3.5, Tissue.AORTA: 1.6,
              Tissue.ILIAC_ARTERY_LEFT: 1.6, Tissue.ILIAC_ARTERY_RIGHT: 1.6, Tissue.DISC: 0.6}
    for tissue, suv in values.items():
        table[tissue] = suv
    table[list(MUSCLE)] = 0.8
    table[list(LUNG)] = 0.35
    table[Tissue.VERTEBRA:] = 1.1
    return table


def render_pet(lay: Layout, lesions: list[Lesion], timepoint: str, grid: Grid, rng: np.random.Generator) -> np.ndarray:
    """SUV volume (float32, ``[z, y, x]``) on ``grid``: smooth organ uptake, unblurred lesion profiles, noise."""
    labels, _ = render_labels(lay, grid)
    suv = ndimage.gaussian_filter(suv_table(rng.uniform(1.9, 2.1))[labels], 0.8)
    for lesion in lesions:
        if timepoint in lesion.scale:
            scale = lesion.scale[timepoint]
            box, q = _local(lesion, grid, scale, pad_mm=0.5 * float(np.max(lesion.semi_mm)) * scale)
            suv[box] = np.maximum(suv[box], uptake(lesion, q))
    noise = np.clip(rng.normal(1, NOISE, suv.shape), 1 - 2.5 * NOISE, 1 + 2.5 * NOISE)
    return (suv * noise).astype(np.float32)


def suvmax_per_lesion(pet: sitk.Image, lesion_map: sitk.Image) -> dict[int, float | None]:
    """SUVmax of each lesion over the PET voxels that the CT lesion map covers (nearest-neighbour on the PET grid)."""
    on_pet = sitk.GetArrayFromImage(
        sitk.Resample(lesion_map, pet, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt16))
    suv = sitk.GetArrayFromImage(pet)
    labels = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(lesion_map)) if v]
    present = set(np.unique(on_pet).tolist())
    return {k: (float(ndimage.maximum(suv, on_pet, k)) if k in present else None) for k in labels}
