"""Lesion label maps from DICOM SEG (read with highdicom) on the grid of the referenced image series.

Segments map to labels by their SegmentLabel, with the same pattern rules as RTSTRUCT ROI names
(:func:`wbrad.convert.rtstruct.roi_labels`). Frames are matched to the image by SOPInstanceUID, so the label map is
on the image's grid by construction; image slices without a frame are empty.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import SimpleITK as sitk

from wbrad.convert.dicom import DicomSeries, is_dicom
from wbrad.convert.rtstruct import Rasterised, roi_labels


def is_seg(path: str | Path) -> bool:
    """Whether ``path`` is a DICOM SEG file."""
    path = Path(path)
    return is_dicom(path) and path.is_file() and \
        pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality") == "SEG"


def seg_labels(path: str | Path, series: DicomSeries, reference: sitk.Image, pattern: str, name: str) -> Rasterised:
    """The label map of the SEG segments matching ``pattern`` on ``reference`` (the pixels of ``series``)."""
    seg = hd.seg.segread(path)
    names = {n: str(seg.get_segment_description(n).segment_label) for n in seg.get_segment_numbers()}
    wanted = roi_labels(names, pattern, f"{name} SEG {path}")
    uids = [str(h.SOPInstanceUID) for h in series.headers]
    arr = np.zeros(reference.GetSize()[::-1], np.uint16)
    claimed = np.zeros(arr.shape, np.uint8)
    for number, label in sorted(wanted.items()):
        try:
            mask = seg.get_pixels_by_source_instance(uids, segment_numbers=[number], combine_segments=True,
                                                     assert_missing_frames_are_empty=True) > 0
        except (KeyError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name}: SEG {path} segment '{names[number]}' does not fit {series.label}: {err}") \
                from err
        arr[mask] = label
        claimed += mask
    labels = sitk.GetImageFromArray(arr)
    labels.CopyInformation(reference)
    return Rasterised(labels, {wanted[n]: names[n] for n in wanted}, int((claimed > 1).sum()))
