"""wbrad.tracking.register on a real CT (TotalSegmentator's example, abdomen T11-S1): the scan registered to itself
moved by a known rigid transform is recovered within 2 mm at points across the body."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from wbrad.image import read_canonical
from wbrad.tracking.register import displacement_mm, quality, register

from .conftest import SHARED_DATA

CT = SHARED_DATA / "totalsegmentator_refs" / "reference_files" / "example_ct.nii.gz"

pytestmark = pytest.mark.skipif(not CT.is_file(), reason=f"real CT not found: {CT} (shared reference data absent)")


def test_real_ct_moved_rigidly_is_recovered():
    ct = read_canonical(CT, "example_ct")
    centre = ct.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in ct.GetSize()])
    truth = sitk.Euler3DTransform(centre, np.radians(2.0), np.radians(-3.0), np.radians(2.5), (18.0, -12.0, 22.0))
    followup = sitk.Resample(ct, ct, truth.GetInverse(), sitk.sitkLinear, -1024.0, sitk.sitkFloat32)
    transform = register(ct, followup)
    size = np.array(ct.GetSize())
    points = np.array([ct.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in f * (size - 1)))
                       for f in ([0.5, 0.5, 0.5], [0.3, 0.4, 0.3], [0.7, 0.6, 0.7], [0.5, 0.7, 0.5])])
    error = displacement_mm(transform, truth, points)
    assert error.max() < 2.0, error
    q = quality(ct, followup, transform)
    assert q["bone_dice_registered"] > 0.75 > 0.4 > q["bone_dice_unregistered"], q
