"""Tests of wbrad.convert.seg: a DICOM SEG written by highdicom converts back to the label map on the CT grid."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from wbrad.convert.run import convert_ct
from wbrad.synth.dicom import Identity, Study, write_ct_series

SPACING, ORIGIN = (0.8, 0.9, 2.5), (-10.0, 20.0, 30.0)


def write_seg(ct_folder: Path, labels: np.ndarray, names: dict[int, str], path: Path) -> None:
    """A binary SEG with one segment per label (segment k is ``labels == label``), frames on the CT slices."""
    sources = [pydicom.dcmread(p) for p in sorted(ct_folder.iterdir())]
    segments = [hd.seg.SegmentDescription(
        segment_number=k, segment_label=names[label],
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for k, label in enumerate(sorted(names), start=1)]
    stack = np.stack([labels == label for label in sorted(names)], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(sources, stack, hd.seg.SegmentationTypeValues.BINARY, segments, hd.UID(), 10, hd.UID(),
                              1, "wbrad", "1", "test", "0", omit_empty_frames=True)
    seg.save_as(path)


def test_seg_converts_to_the_label_map(tmp_path: Path) -> None:
    labels = np.zeros((5, 12, 14), np.uint16)
    labels[1:3, 2:6, 3:8] = 4
    labels[3, 7:10, 9:12] = 9
    study = Study.new(Identity("H1", "Doe^Jane", "19500101", "F", 60.0, 1.6), dt.date(2024, 1, 2))
    ct = (np.arange(labels.size) % 200).reshape(labels.shape).astype(np.int16)
    write_ct_series(ct, SPACING, ORIGIN, tmp_path / "ct", study)
    write_seg(tmp_path / "ct", labels, {4: "lesion_4", 9: "lesion 9"}, tmp_path / "seg.dcm")
    out = tmp_path / "out"
    convert_ct(tmp_path / "ct", tmp_path / "seg.dcm", out / "ct.nii.gz", out / "lesions.nii.gz", out / "p.json",
               "P1", "baseline")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(out / "lesions.nii.gz"))), labels)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(out / "ct.nii.gz"))), ct)
    assert json.loads((out / "p.json").read_text())["outputs"]["lesions"]["rois"] == {"4": "lesion_4", "9": "lesion 9"}
    with pytest.raises(ValueError, match=r"P1 baseline .*: no ROI name matches '\^GTV'; ROIs are \['lesion 9', "):
        convert_ct(tmp_path / "ct", tmp_path / "seg.dcm", out / "a.nii.gz", out / "b.nii.gz", out / "c.json",
                   "P1", "baseline", roi_pattern="^GTV")
