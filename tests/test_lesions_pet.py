"""PET uptake per lesion on the PET grid: analytic values, partial volumes, delineations, PERCIST reference."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad.lesions.pet import PEAK_RADIUS_MM, Delineation, lesion_uptake, peak_kernel

PET_SPACING = (4.0, 4.0, 4.0)
VOXEL_ML = 0.064


def _pet(shape: tuple[int, int, int] = (12, 14, 16), seed: int = 0,
         liver: np.ndarray | None = None) -> tuple[sitk.Image, np.ndarray]:
    """Random SUV 0.5-10 on 4 mm voxels; 1.5-2.5 in ``liver``."""
    rng = np.random.default_rng(seed)
    suv = rng.uniform(0.5, 10, shape).astype(np.float32)
    if liver is not None:
        suv[liver] = rng.uniform(1.5, 2.5, liver.sum())
    pet = sitk.GetImageFromArray(suv)
    pet.SetSpacing(PET_SPACING)
    pet.SetOrigin((-30.0, 10.0, 100.0))
    return pet, suv


def _ct_labels(pet: sitk.Image, array: np.ndarray) -> sitk.Image:
    """A CT label map on 2 mm voxels, each PET voxel split in 2 x 2 x 2 of them (shifted by 1 nm so that the PET
    voxel's centre lies inside its first CT voxel, not on an edge)."""
    labels = sitk.GetImageFromArray(array.astype(np.uint16))
    labels.SetSpacing((2.0, 2.0, 2.0))
    labels.SetOrigin(tuple(o - 1.0 + 1e-6 for o in pet.GetOrigin()))
    return labels


def _brute_peak(suv: np.ndarray, centres: np.ndarray) -> float:
    """Largest mean of the voxels within 6.2 mm of a lesion voxel centre, by looping."""
    best = -np.inf
    for c in np.argwhere(centres):
        near = [v for v in itertools.product(*(range(n) for n in suv.shape))
                if np.sum(((np.array(v) - c) * 4.0) ** 2) <= PEAK_RADIUS_MM**2]
        best = max(best, float(np.mean([float(suv[v]) for v in near])))
    return best


def test_whole_voxel_lesion_against_direct_computation() -> None:
    pet, suv = _pet()
    block = (slice(3, 6), slice(4, 8), slice(0, 3))  # touches the x border: SUVpeak's sphere is cut there
    array = np.zeros(suv.shape, bool)
    array[block] = True
    labels = _ct_labels(pet, array.repeat(2, 0).repeat(2, 1).repeat(2, 2) * 3)
    row = lesion_uptake(pet, labels, [3]).iloc[0]
    values = suv[block].astype(float)
    assert row["suvmax"] == values.max() and pd.isna(row["reason"])
    assert row["suvmean"] == pytest.approx(values.mean())
    assert row["mtv_ml"] == pytest.approx(values.size * VOXEL_ML)
    assert row["tlg"] == pytest.approx(values.sum() * VOXEL_ML)
    assert row["suvpeak"] == pytest.approx(_brute_peak(suv, array), rel=1e-9)
    assert peak_kernel(PET_SPACING).sum() == 19  # centre, 6 faces (4 mm), 12 edges (5.7 mm); corners are 6.9 mm away

    relative = lesion_uptake(pet, labels, [3], Delineation("relative", relative=0.5)).iloc[0]
    above = values[values >= 0.5 * values.max()]
    assert relative["mtv_ml"] == pytest.approx(above.size * VOXEL_ML)
    assert relative["suvmean"] == pytest.approx(above.mean())
    assert relative["suvmax"] == row["suvmax"] and relative["suvpeak"] == row["suvpeak"]
    absolute = lesion_uptake(pet, labels, [3], Delineation("absolute", absolute=20.0)).iloc[0]
    assert absolute["mtv_ml"] == 0 and absolute["tlg"] == 0 and np.isnan(absolute["suvmean"])


def test_partial_voxels_weigh_by_their_share_and_tiny_lesions_get_a_reason() -> None:
    pet, suv = _pet()
    ct = np.zeros(tuple(2 * n for n in suv.shape), np.uint16)
    ct[10:14, 10:14, 11:14] = 1  # PET voxels (5:7, 5:7, 6) whole, the upper half of x = 5 (without its centre)
    ct[1, 1, 1] = 2  # one CT voxel in a PET voxel's corner: no PET voxel centre inside
    table = lesion_uptake(pet, _ct_labels(pet, ct), [1, 2, 9]).set_index("lesion")
    assert table.loc[1, "mtv_ml"] == pytest.approx(4 * 4 * 3 * 8 / 1000)  # exactly the CT volume
    whole, half = suv[5:7, 5:7, 6].astype(float), suv[5:7, 5:7, 5].astype(float)
    assert table.loc[1, "suvmax"] == whole.max()  # only voxels whose centre lies in the lesion
    assert table.loc[1, "tlg"] == pytest.approx((whole.sum() + 0.5 * half.sum()) * VOXEL_ML)
    assert table.loc[1, "suvmean"] == pytest.approx((whole.sum() + 0.5 * half.sum()) / 6)
    assert table.loc[[2, 9], ["suvmax", "suvpeak", "suvmean", "mtv_ml", "tlg"]].isna().all().all()
    assert "no PET voxel centre" in table.loc[2, "reason"]
    assert table.loc[9, "reason"] == "label 9 not present in the lesion map"


def test_percist_threshold_from_the_liver_core() -> None:
    liver = np.zeros((16, 16, 16), bool)
    liver[1:13, 1:13, 1:13] = True
    pet, suv = _pet(liver.shape, liver=liver)
    lesions = np.zeros(suv.shape, np.uint16)
    lesions[13:15, 13:15, 13:15] = 1  # outside the liver
    lesions[6, 6, 6] = 2  # inside: the liver around it leaves the reference
    labels = _ct_labels(pet, lesions.repeat(2, 0).repeat(2, 1).repeat(2, 2))
    mask = sitk.GetImageFromArray(liver.astype(np.uint8))
    mask.CopyInformation(pet)
    # 10 mm from the border: 3 voxels (12 mm) in; from lesion 2: more than 2.5 voxels away
    core = np.zeros(suv.shape, bool)
    core[3:11, 3:11, 3:11] = True
    core &= ((np.indices(suv.shape) - 6) ** 2).sum(axis=0) > 6
    threshold = 1.5 * suv[core].mean(dtype=float) + 2 * suv[core].std(ddof=1, dtype=float)
    row = lesion_uptake(pet, labels, [1], Delineation("percist"), liver=mask).iloc[0]
    values = suv[lesions == 1]
    assert 0 < (values >= threshold).sum() < values.size
    assert row["mtv_ml"] == pytest.approx((values >= threshold).sum() * VOXEL_ML)
    with pytest.raises(ValueError, match="needs the liver mask"):
        lesion_uptake(pet, labels, [1], Delineation("percist"))
    with pytest.raises(ValueError, match="unknown PET delineation"):
        Delineation("otsu")


def test_a_lesion_beyond_the_pet_field_of_view_is_named_and_measured_inside_it() -> None:
    pet, suv = _pet()
    ct = np.zeros((2 * 12 + 4, 28, 32), np.uint16)  # the CT reaches 2 PET slices (8 mm) below the PET
    ct[2:8, 10:14, 10:14] = 1  # 2 CT slices below the PET, 4 in it: PET voxels (0:2, 5:7, 5:7)
    ct[4:8, 20:24, 20:24] = 2  # up from the PET's lowest voxel edge: touches its border, all inside
    labels = _ct_labels(pet, ct)
    labels.SetOrigin(tuple(np.subtract(labels.GetOrigin(), (0.0, 0.0, 8.0))))
    table = lesion_uptake(pet, labels, [1, 2]).set_index("lesion")
    assert table.loc[1, "border"] == "z=0 (inferior)" and pd.isna(table.loc[2, "border"])
    inside = suv[0:2, 5:7, 5:7].astype(float)
    assert table.loc[1, "suvmax"] == inside.max()
    assert table.loc[1, "mtv_ml"] == pytest.approx(inside.size * VOXEL_ML)  # a lower bound: 2/3 of the CT volume
    assert table.loc[1, "tlg"] == pytest.approx(inside.sum() * VOXEL_ML)
    assert table.loc[2, "mtv_ml"] == pytest.approx(8 * VOXEL_ML) and table["reason"].isna().all()
