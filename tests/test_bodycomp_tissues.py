"""Tests of wbrad.bodycomp.tissues: the licence-free muscle and fat route, analytic and against tissue_types."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from wbrad.bodycomp.masks import read_ct
from wbrad.bodycomp.tissues import licence_free_tissues
from wbrad.segmentation import MUSCLES, load_task
from wbrad.testing.metrics import dice

from .conftest import SHARED_DATA

FILES = SHARED_DATA / "totalsegmentator_refs" / "reference_files"


def disc(shape: tuple[int, int], radius: float) -> np.ndarray:
    y, x = np.indices(shape)
    return (y - shape[0] / 2 + 0.5) ** 2 + (x - shape[1] / 2 + 0.5) ** 2 <= radius**2


def test_fat_is_split_at_the_abdominal_wall() -> None:
    """Air outside; skin-side fat ring (SAT), a muscle wall, fat inside (VAT), a bowel loop of air with its wall."""
    shape = (2, 60, 60)
    ct = np.full(shape, -1000, np.int16)
    ring = {"sat": disc(shape[1:], 28) & ~disc(shape[1:], 22), "wall": disc(shape[1:], 22) & ~disc(shape[1:], 19),
            "vat": disc(shape[1:], 19)}
    ct[:, ring["sat"]], ct[:, ring["wall"]], ct[:, ring["vat"]] = -100, 40, -100
    ct[:, 28:32, 28:32] = -1000  # gas in a bowel loop inside the wall
    ct[:, 27, 27:33] = ct[:, 32, 27:33] = ct[:, 27:33, 27] = ct[:, 27:33, 32] = 30
    wall = np.zeros(shape, bool)
    wall[:, ring["wall"]] = True
    tissues = licence_free_tissues(ct, wall)
    vat = np.zeros(shape, bool)
    vat[:, ring["vat"]] = True
    vat[:, 27:33, 27:33] = False
    np.testing.assert_array_equal(tissues["tissue_types/subcutaneous_fat"][0], ring["sat"])
    np.testing.assert_array_equal(tissues["tissue_types/torso_fat"], vat)
    np.testing.assert_array_equal(tissues["tissue_types/skeletal_muscle"], wall)


def test_licence_free_route_against_tissue_types_on_the_reference_ct() -> None:
    """example_ct_sm: `total` masks + HU against TotalSegmentator's tissue_types (measured: Dice muscle 0.58,
    visceral fat 0.69, subcutaneous 0.79; visceral fat volume 919 ml against 917 ml). Muscle is lower because the
    `total` classes leave out the abdominal wall muscles."""
    if not FILES.is_dir():
        pytest.skip(f"TotalSegmentator reference files not found: {FILES}")
    ct = read_ct(FILES / "example_ct_sm.nii.gz")
    reference = load_task(FILES / "example_seg_tissue_types", ct, "example_ct_sm", "tissue_types")
    muscles = load_task(FILES / "example_seg_fast", ct, "example_ct_sm", "total", MUSCLES)
    tissues = licence_free_tissues(sitk.GetArrayFromImage(ct), np.any(list(muscles.values()), axis=0))
    scores = {name: dice(mask, reference[name]) for name, mask in tissues.items()}
    assert scores["tissue_types/skeletal_muscle"] == pytest.approx(0.58, abs=0.01)
    assert scores["tissue_types/torso_fat"] == pytest.approx(0.69, abs=0.01)
    assert scores["tissue_types/subcutaneous_fat"] == pytest.approx(0.79, abs=0.01)
    ml = {name: np.count_nonzero(mask) * 27 / 1000 for name, mask in tissues.items()}
    assert ml["tissue_types/torso_fat"] == pytest.approx(np.count_nonzero(reference["tissue_types/torso_fat"]) * 0.027,
                                                         rel=0.01)
    assert ml["tissue_types/skeletal_muscle"] == pytest.approx(396.9, abs=0.1)  # the compartment, all HU
    assert ml["tissue_types/subcutaneous_fat"] == pytest.approx(1347.4, abs=0.1)


def test_dice_of_empty_masks_is_nan() -> None:
    empty = np.zeros((2, 2), bool)
    assert np.isnan(dice(empty, empty)) and dice(~empty, ~empty) == 1.0
