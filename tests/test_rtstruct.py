"""Tests of wbrad.convert.rtstruct: ROI selection, stable labels, holes, frame of reference, geometry errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from wbrad.convert.dicom import read_dicom_series
from wbrad.convert.rtstruct import DEFAULT_ROI_PATTERN, rasterise, read_rtstruct
from wbrad.synth.dicom import Identity, Study, pixel_edge_loops, write_ct_series, write_rtstruct

SPACING, ORIGIN = (0.8, 0.9, 2.5), (-10.0, 20.0, 30.0)


def labels() -> np.ndarray:
    """Two lesions (labels 3 and 7): a box with a hole holding an island, and a box with diagonal pixels."""
    lab = np.zeros((6, 40, 50), np.uint16)
    lab[1:4, 5:20, 5:25] = 3
    lab[2, 10:14, 10:14] = 0
    lab[2, 11:13, 11:13] = 3
    lab[3:5, 25:35, 30:45] = 7
    lab[4, 24, 29] = lab[4, 23, 28] = 7  # touching the box only at corners
    return lab


@pytest.fixture()
def export(tmp_path: Path) -> tuple[Study, Path, Path]:
    study = Study.new(Identity("H1", "Doe^Jane", "19500101", "F", 60.0, 1.6), dt.date(2024, 1, 2))
    uid = write_ct_series(np.zeros((6, 40, 50), np.int16), SPACING, ORIGIN, tmp_path / "ct", study)
    write_rtstruct(labels(), SPACING, ORIGIN, tmp_path / "rs.dcm", study, uid)
    return study, tmp_path / "ct", tmp_path / "rs.dcm"


def test_round_trip_keeps_labels_holes_and_names(export: tuple[Study, Path, Path]) -> None:
    study, ct, rs = export
    result = rasterise(read_rtstruct(rs, "P1"), read_dicom_series(ct, "P1"), DEFAULT_ROI_PATTERN, "P1",
                       study.frame_uid)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(result.labels), labels())
    assert result.rois == {3: "lesion_3", 7: "lesion_7"} and result.overlap_voxels == 0


def test_pattern_without_label_group_numbers_in_name_order(export: tuple[Study, Path, Path]) -> None:
    _, ct, rs = export
    result = rasterise(read_rtstruct(rs, "P1"), read_dicom_series(ct, "P1"), r"^lesion_", "P1")
    assert result.rois == {1: "lesion_3", 2: "lesion_7"}
    assert np.bincount(sitk.GetArrayFromImage(result.labels).ravel()).tolist()[1:] == [
        int((labels() == 3).sum()), int((labels() == 7).sum())]


def test_errors_name_the_scan(export: tuple[Study, Path, Path]) -> None:
    _, ct, rs = export
    ds, img = read_rtstruct(rs, "P1 fu1"), read_dicom_series(ct, "P1 fu1")
    with pytest.raises(ValueError, match=r"P1 fu1: no ROI name matches '\^GTV'; ROIs are \['lesion_3'"):
        rasterise(ds, img, "^GTV", "P1 fu1")
    with pytest.raises(ValueError, match=r"P1 fu1: RTSTRUCT frame of reference .* is not the image's 1\.2\.3"):
        rasterise(ds, img, DEFAULT_ROI_PATTERN, "P1 fu1", "1.2.3")
    shifted = sitk.Image(img)
    shifted.SetOrigin((ORIGIN[0], ORIGIN[1], ORIGIN[2] + 1.0))
    with pytest.raises(ValueError, match=r"P1 fu1 ROI 'lesion_3': a contour lies between slices"):
        rasterise(ds, shifted, DEFAULT_ROI_PATTERN, "P1 fu1")


def test_pixel_edge_loops_of_a_square_with_a_hole() -> None:
    mask = np.ones((3, 3), bool)
    mask[1, 1] = False
    loops = pixel_edge_loops(mask)
    assert sorted(len(loop) for loop in loops) == [4, 12]  # inner square: 4 corners, outer: 12 unit edges


def test_rtstruct_without_rois_is_a_scan_without_lesions(tmp_path: Path) -> None:
    study = Study.new(Identity("H1", "Doe^Jane", "19500101", "F", 60.0, 1.6), dt.date(2024, 1, 2))
    uid = write_ct_series(np.zeros((3, 4, 5), np.int16), SPACING, ORIGIN, tmp_path / "ct", study)
    write_rtstruct(np.zeros((3, 4, 5), np.uint16), SPACING, ORIGIN, tmp_path / "rs.dcm", study, uid)
    result = rasterise(read_rtstruct(tmp_path / "rs.dcm", "P1"), read_dicom_series(tmp_path / "ct", "P1"),
                       DEFAULT_ROI_PATTERN, "P1")
    assert result.rois == {} and not sitk.GetArrayFromImage(result.labels).any()
