"""PERCIST 1.0: lean body mass by hand, the liver sphere on a known SUV field, SULpeak, and the category thresholds."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad.response import vocabulary as v
from wbrad.response.percist import hottest_sulpeak, lean_body_mass, liver_reference, percist_table, sul_factor


def test_lean_body_mass_by_hand() -> None:
    assert lean_body_mass(80, 180, "M") == pytest.approx(88 - 128 * (80 / 180) ** 2)  # 62.716 kg
    assert lean_body_mass(80, 180, "M") == pytest.approx(62.716, abs=1e-3)
    assert lean_body_mass(60, 165, "F") == pytest.approx(44.630, abs=1e-3)  # 64.2 - 148 x 0.13223
    assert lean_body_mass(80, 180, "male", "janmahasatian") == pytest.approx(61.731, abs=1e-3)  # BMI 24.69
    assert lean_body_mass(60, 165, "F", "janmahasatian") == pytest.approx(9270 * 60 / (8780 + 244 * 60 / 1.65**2))
    assert sul_factor(80, 180, "M") == pytest.approx(62.716 / 80, abs=1e-5)
    with pytest.raises(ValueError, match="unknown sex"):
        lean_body_mass(80, 180, "X")


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((4.0, 4.0, 4.0))
    return image


def test_liver_sphere_in_the_right_lobe() -> None:
    z, y, x = np.indices((20, 20, 30))
    suv = (1.0 + 0.05 * x + 0.02 * y + 0.01 * z).astype(np.float32)
    liver = np.zeros(suv.shape, np.uint8)
    liver[2:18, 2:18, 0:15] = 1  # thick right lobe (low x: the patient's right in LPS)
    liver[8:11, 8:11, 15:28] = 1  # thin left lobe
    ref = liver_reference(_image(suv), _image(liver), factor=0.5)
    assert ref.centre_xyz == (28.0, 36.0, 36.0) and ref.depth_mm == 32.0  # voxel (7, 9, 9), 8 voxels from the edge
    offsets = [o for o in itertools.product(range(-3, 4), repeat=3) if 16 * sum(c * c for c in o) <= 15**2]
    values = 0.5 * np.array([1.0 + 0.05 * (7 + a) + 0.02 * (9 + b) + 0.01 * (9 + c) for a, b, c in offsets])
    assert ref.mean == pytest.approx(0.5 * 1.62, rel=1e-6)  # symmetric sphere: centre value
    assert ref.sd == pytest.approx(values.std(ddof=1), rel=1e-5)
    assert ref.threshold == pytest.approx(1.5 * ref.mean + 2 * ref.sd)


def test_hottest_lesion_sulpeak() -> None:
    suv = np.ones((16, 16, 16), np.float32)
    labels = np.zeros(suv.shape, np.uint16)
    suv[2:7, 2:7, 2:7], labels[2:7, 2:7, 2:7] = 5.0, 1
    suv[9:14, 9:14, 9:14], labels[9:14, 9:14, 9:14] = 8.0, 2
    lesion, peak = hottest_sulpeak(_image(suv), _image(labels), [1, 2], sul_factor(80, 180, "M"))
    assert lesion == 2 and peak == pytest.approx(8.0 * 62.716 / 80, abs=1e-4)  # the 1 cm3 sphere lies inside
    assert hottest_sulpeak(_image(suv), _image(np.zeros_like(labels)), [], 1.0) == (None, 0.0)


def _scans(*follow: tuple[float, int], baseline: float = 5.0, liver: tuple[float, float] = (2.0, 0.3)) -> pd.DataFrame:
    rows = [("baseline", 0, baseline, 0)] + [(f"fu{i}", 56 * i, s, n) for i, (s, n) in enumerate(follow, start=1)]
    return pd.DataFrame([{v.TIMEPOINT: t, v.DAY: d, "sulpeak": s, "liver_mean": liver[0], "liver_sd": liver[1],
                          "new_lesions": n} for t, d, s, n in rows])


def test_percist_categories_on_hand_computed_cases() -> None:
    table = percist_table(_scans((3.4, 0), (4.0, 0), (1.9, 0), (6.6, 0), (6.4, 0), (4.9, 1), (0.0, 0)))
    assert table["threshold"].iloc[0] == pytest.approx(3.6) and bool(table["measurable"].iloc[0])
    # -32 % / -1.6, -20 %, below the liver mean 2.0, +32 % / +1.6, +28 %, a new lesion, no lesion left
    assert list(table["category"].iloc[1:]) == [v.PMR, v.SMD, v.CMR, v.PMD, v.SMD, v.PMD, v.CMR]
    assert table["change"].iloc[1] == pytest.approx(-0.32) and table["change_sul"].iloc[4] == pytest.approx(1.6)


def test_percist_absolute_bar_of_point_eight_sul() -> None:
    table = percist_table(_scans((1.74, 0), (1.7, 0), (3.26, 0), (3.4, 0), baseline=2.5, liver=(1.0, 0.2)))
    # -30.4 % but -0.76 SUL; -32 % and -0.8 SUL; +30.4 % but +0.76; +36 % and +0.9
    assert list(table["category"].iloc[1:]) == [v.SMD, v.PMR, v.SMD, v.PMD]


def test_unmeasurable_baseline() -> None:
    table = percist_table(_scans((1.0, 0), (3.0, 1), baseline=3.0))  # 3.0 < 3.6
    assert not table["measurable"].iloc[0] and list(table["category"].iloc[1:]) == [v.NE, v.PMD]
