"""wbrad.labelmap gives what scipy.ndimage gives, value for value (the lesion job uses it to leave scipy out)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from wbrad.labelmap import centre_of_mass, correlate_zero, dilate_faces, label_boxes


def _maps(seed: int) -> np.ndarray:
    """A label map of a few blobs, some labels missing, blobs at the border."""
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(3, 14, size=3))
    blobs = ndimage.gaussian_filter(rng.random(shape), 1.0) > 0.52
    labels, n = ndimage.label(blobs)
    keep = rng.random(n + 1) < 0.7
    keep[0] = False
    return np.where(keep[labels], labels, 0).astype(rng.choice([np.uint8, np.int16, np.uint32, np.int64]))


@pytest.mark.parametrize("seed", range(40))
def test_label_boxes_is_find_objects(seed: int) -> None:
    labels = _maps(seed)
    assert label_boxes(labels) == ndimage.find_objects(labels)


def test_label_boxes_of_an_empty_map_and_one_voxel() -> None:
    assert label_boxes(np.zeros((3, 4, 5), np.uint16)) == ndimage.find_objects(np.zeros((3, 4, 5), np.uint16)) == []
    one = np.zeros((3, 4, 5), np.uint16)
    one[2, 3, 4] = 3
    assert label_boxes(one) == [None, None, (slice(2, 3), slice(3, 4), slice(4, 5))]


@pytest.mark.parametrize("seed", range(40))
def test_centre_of_mass_is_ndimage_bit_for_bit(seed: int) -> None:
    labels = _maps(seed)
    for k in np.unique(labels[labels > 0]):
        mask = (labels == k).astype(np.uint8)
        assert centre_of_mass(mask) == ndimage.center_of_mass(mask)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("iterations", [1, 2, 3, 7])
def test_dilate_faces_is_binary_dilation(seed: int, iterations: int) -> None:
    mask = _maps(seed) == 1
    expected = ndimage.binary_dilation(mask, ndimage.generate_binary_structure(3, 1), iterations=iterations)
    np.testing.assert_array_equal(dilate_faces(mask, iterations), expected)


@pytest.mark.parametrize("seed", range(20))
def test_correlate_zero_is_ndimage_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.gamma(2.0, 3.0, size=tuple(rng.integers(1, 12, size=3)))
    kernel = rng.random((3, 5, 3)) > 0.3
    for weights in (kernel.astype(float), np.where(kernel, rng.random(kernel.shape), 0.0)):
        np.testing.assert_array_equal(correlate_zero(values, weights),
                                      ndimage.correlate(values, weights, mode="constant"))
