"""Physiological FDG uptake removed from the tumour burden with the segmentation's organ masks and their margins.

Organ masks (``seg/``, on the CT grid; the groups of ``wbrad.segmentation.PHYSIOLOGICAL`` or single classes) are
brought onto the PET grid by nearest neighbour. Candidate voxels inside an organ are removed. Around each organ a
margin (mm, per organ; at least a PET voxel's diagonal) holds its spill-over (PET resolution, PET/CT
misregistration): a candidate voxel there is kept only where it joins a lesion outside the margins, and lies within
one margin of that lesion's voxels outside them. So a lesion next to an organ keeps its volume inside the margin, the
organ's rim of spill-over goes (but the part of it within a margin of a lesion it touches), and a lesion wholly inside
a margin goes with the organ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from wbrad.burden.components import label
from wbrad.lesions.pet import on_grid
from wbrad.segmentation import load_union, physiological_classes

DEFAULT_EXCLUDE = {"brain": 10.0, "heart": 10.0, "kidneys": 10.0, "urinary_bladder": 10.0}  # organ: margin (mm)


def union_on(seg: Path, classes: Iterable[str], ref: sitk.Image, ref_name: str, pet: sitk.Image) -> np.ndarray:
    """The union of the named classes present in ``seg`` (masks on ``ref``'s grid) as a boolean [z, y, x] array on
    the PET grid, by nearest neighbour; all False where none is present."""
    union = sitk.GetImageFromArray(load_union(seg, classes, ref, ref_name).astype(np.uint8))
    union.CopyInformation(ref)
    return on_grid(union, pet).astype(bool)


def organ_masks(seg: Path, margins: Mapping[str, float | None], ref: sitk.Image, ref_name: str,
                pet: sitk.Image) -> dict[str, np.ndarray]:
    """Per excluded organ (margin not None) its mask on the PET grid (``union_on``)."""
    return {key: union_on(seg, physiological_classes(key), ref, ref_name, pet)
            for key, margin in margins.items() if margin is not None}


def _near(mask: np.ndarray, margin_mm: float, spacing_zyx: tuple[float, ...]) -> tuple[tuple[slice, ...], np.ndarray]:
    """The box of ``mask`` grown by ``margin_mm`` and, in it, the voxels within ``margin_mm`` of the mask."""
    pad = np.ceil(margin_mm / np.asarray(spacing_zyx)).astype(int) + 1
    found = ndimage.find_objects(mask.astype(np.uint8))[0]
    box = tuple(slice(max(s.start - p, 0), min(s.stop + p, n)) for s, p, n in zip(found, pad, mask.shape, strict=True))
    return box, ndimage.distance_transform_edt(~mask[box], sampling=spacing_zyx) <= margin_mm


def zones(masks: Mapping[str, np.ndarray], margins: Mapping[str, float | None], spacing_zyx: tuple[float, ...],
          shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(organ voxels, the margin in mm of each voxel in an organ's margin, 0 elsewhere), both [z, y, x] of ``shape``;
    where margins overlap, the wider holds. A margin (not 0) is at least a PET voxel's diagonal: every voxel touching
    an organ's voxel, by a face, an edge or a corner, holds some of its activity (and the mask is on the PET grid to
    a voxel)."""
    organ, margin = np.zeros(shape, bool), np.zeros(shape)
    for key, mask in masks.items():
        organ |= mask
        if margins[key] and mask.any():
            width = max(float(margins[key]), float(np.linalg.norm(spacing_zyx)))
            box, near = _near(mask, width, spacing_zyx)
            margin[box] = np.where(near, np.maximum(margin[box], width), margin[box])
    margin[organ] = 0
    return organ, margin


def exclude(candidates: np.ndarray, organ: np.ndarray, margin: np.ndarray,
            spacing_zyx: tuple[float, ...]) -> np.ndarray:
    """The candidate voxels that are physiological uptake removed (see the module docstring); boolean [z, y, x]."""
    kept = candidates & ~organ
    band = kept & (margin > 0)
    if not band.any():
        return kept
    core = kept & ~band
    if not core.any():
        return core
    reach = ndimage.distance_transform_edt(~core, sampling=spacing_zyx) <= margin
    labels, n = label(core | (band & reach))
    has_core = np.concatenate([[False], ndimage.maximum(core, labels, np.arange(1, n + 1)) > 0])
    return has_core[labels]
