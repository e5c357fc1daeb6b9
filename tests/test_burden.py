"""PET tumour burden without contours, on small hand-made SUV volumes with known answers: threshold rules, exclusion
margins, minimum volume, TMTV, TLG and Dmax, agreement with contours, and one whole burden job."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage

from wbrad.burden.agreement import agreement
from wbrad.burden.columns import NAMES
from wbrad.burden.components import burden, lesions
from wbrad.burden.detect import detect
from wbrad.burden.exclusion import DEFAULT_EXCLUDE, exclude, zones
from wbrad.burden.maps import MARGIN, ORGAN
from wbrad.burden.mip import draw_mip, projections
from wbrad.burden.run import Settings, measure_burden, settings_from
from wbrad.burden.threshold import Threshold, candidate_level, liver_sphere, trim_relative
from wbrad.io import read_tsv
from wbrad.segmentation import KIDNEYS, LIVER, URINARY_BLADDER, mask_path, physiological_classes

from .conftest import REPO

CM = (10.0, 10.0, 10.0)  # 1 cm voxels: 1 ml each
DIAGONAL = 10 * math.sqrt(3)  # the narrowest margin on 1 cm voxels


def _no_organs(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(shape, bool), np.zeros(shape)


SUV4 = Threshold()


def _detect(suv: np.ndarray, threshold: Threshold = SUV4, min_ml: float = 3.0, organ=None, margin=None,
            spacing: tuple[float, ...] = CM) -> np.ndarray:
    organ, margin = (organ, margin) if organ is not None else _no_organs(suv.shape)
    level = candidate_level(suv, threshold, spacing)
    return detect(suv, spacing, threshold, level, organ, margin, min_ml).labels


def test_absolute_rule_minimum_volume_and_exact_burden():
    suv = np.ones((10, 12, 14), np.float32)
    suv[2:5, 2:5, 2:5] = 6  # 27 ml
    suv[7:9, 8, 8] = 5  # 2 ml: below 3 cm3
    suv[7, 2:5, 10] = 8  # 3 ml: exactly the minimum, kept
    suv[0, 0, 13] = 3.99  # below SUV 4
    labels = _detect(suv)
    assert labels.dtype == np.uint16 and sorted(np.unique(labels)) == [0, 1, 2]
    assert (labels == 1).sum() == 27 and (labels == 2).sum() == 3  # numbered by decreasing volume
    values = burden(labels, suv, CM)
    assert values["tmtv_ml"] == 30 and values["tlg"] == pytest.approx(27 * 6 + 3 * 8)
    assert values["lesion_count"] == 2 and values["suvmax"] == 8
    assert values["dmax_mm"] == pytest.approx(10 * math.hypot(7 - 3, 10 - 3))  # centroids (3, 3, 3), (7, 3, 10)
    assert _detect(suv, min_ml=0)[8, 8, 8] > 0  # the 2 ml one is there without a minimum


def test_burden_of_no_lesion_and_one_lesion():
    suv = np.ones((4, 4, 4), np.float32)
    empty = burden(np.zeros(suv.shape, np.uint16), suv, CM)
    assert empty["tmtv_ml"] == 0 and empty["tlg"] == 0 and empty["lesion_count"] == 0
    assert math.isnan(empty["suvmax"]) and math.isnan(empty["dmax_mm"])
    one = np.zeros(suv.shape, np.uint16)
    one[1:3, 1:3, 1:3] = 1
    assert burden(one, suv * 5, (2.0, 4.0, 5.0)) == {"tmtv_ml": 8 * 0.04, "tlg": pytest.approx(8 * 5 * 0.04),
                                                     "lesion_count": 1, "suvmax": 5.0, "dmax_mm": 0.0}


def test_voxels_touching_at_a_corner_are_one_lesion():
    mask = np.zeros((4, 4, 4), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = mask[2, 2, 2] = True
    assert lesions(mask, 1.0, 3.0).max() == 1


def test_relative_rule_trims_each_component_to_its_share_of_suvmax():
    suv = np.full((8, 8, 16), 1.0, np.float32)
    suv[1:5, 1:5, 1:5] = 5  # a shell at 5 around a hot 2 x 2 x 2 core at 20: 41 % of 20 = 8.2 keeps the core
    suv[2:4, 2:4, 2:4] = 20
    suv[1:4, 1:4, 9:12] = 3  # SUVmax 6: 41 % is 2.46, below the floor, so the whole component stays
    suv[2, 2, 10] = 6
    rule = Threshold("relative", relative=0.41, relative_floor=2.5)
    labels = _detect(suv, rule)
    assert (labels == 1).sum() == 27 and (labels[1:4, 1:4, 9:12] == 1).all()
    assert (labels == 2).sum() == 8 and (labels[2:4, 2:4, 2:4] == 2).all()
    assert candidate_level(suv, rule, CM) == 2.5
    component = np.zeros(suv.shape, np.int32)
    component[1:5, 1:5, 1:5] = 7
    assert trim_relative(component, suv, 0.5).sum() == 8 and not trim_relative(component * 0, suv, 0.5).any()


def _liver(shape=(9, 9, 12)) -> tuple[np.ndarray, np.ndarray]:
    liver = np.zeros(shape, bool)
    liver[1:8, 1:8, 1:11] = True
    suv = np.where(liver, 2.0, 0.5).astype(np.float32)
    return liver, suv


def test_percist_sphere_in_the_right_lobe_away_from_lesions():
    liver, suv = _liver()
    suv[3:6, 3:6, 1:3] = 9.0  # a liver lesion at the right border
    hot = suv >= 4
    sphere = liver_sphere(liver, hot, CM, 30.0)
    assert sphere.sum() == 19  # the centre, 6 faces (1 cm) and 12 edges (1.41 cm) within 1.5 cm
    assert (sphere <= liver).all() and not (sphere & hot).any()
    assert np.nonzero(sphere)[2].mean() < np.nonzero(liver)[2].mean()  # the patient's right: the lower x
    level = candidate_level(suv, Threshold("percist"), CM, liver)
    assert level == pytest.approx(3.0)  # 1.5 x 2.0 + 2 x 0
    rng = np.random.default_rng(0)
    suv[liver & ~hot] = rng.uniform(1.5, 2.5, (liver & ~hot).sum())
    values = suv[liver_sphere(liver, suv >= 4, CM, 30.0)].astype(float)
    expected = 1.5 * values.mean() + 2 * values.std(ddof=1)
    assert candidate_level(suv, Threshold("percist"), CM, liver) == pytest.approx(expected)


def test_percist_without_a_liver_is_an_error_and_rules_are_checked():
    liver, suv = _liver()
    with pytest.raises(ValueError, match="liver mask"):
        candidate_level(suv, Threshold("percist"), CM, None)
    with pytest.raises(ValueError, match="no liver voxel"):
        liver_sphere(liver, liver, CM, 30.0)
    with pytest.raises(ValueError, match="unknown burden threshold rule"):
        Threshold("median")


def _bladder(shape=(12, 12, 24)) -> tuple[np.ndarray, np.ndarray]:
    """A hot organ (SUV 20) at x 2..5 with a face-neighbour rim of spill-over at SUV 5 (x 1 and 6, ...)."""
    organ = np.zeros(shape, bool)
    organ[4:8, 4:8, 2:6] = True
    suv = np.ones(shape, np.float32)
    rim = np.zeros(shape, bool)
    for axis in range(3):
        for step in (-1, 1):
            rim |= np.roll(organ, step, axis)
    suv[rim & ~organ] = 5.0
    suv[organ] = 20.0
    return organ, suv


def test_organ_and_its_spill_over_are_removed_within_the_margin():
    organ, suv = _bladder()
    assert _detect(suv).max() == 1  # without exclusion: the organ and its rim
    inside, margin = zones({"urinary_bladder": organ}, {"urinary_bladder": 10.0}, CM, suv.shape)
    assert (inside == organ).all() and margin[organ].max() == 0
    touching = ndimage.binary_dilation(organ, np.ones((3, 3, 3), bool)) & ~organ  # faces, edges and corners
    assert margin.max() == pytest.approx(DIAGONAL) and ((margin > 0) == touching).all()  # 1 cm raised to the diagonal
    wide = zones({"urinary_bladder": organ}, {"urinary_bladder": 25.0}, CM, suv.shape)[1]
    assert wide.max() == 25 and (wide > 0).sum() > touching.sum()
    assert _detect(suv, organ=inside, margin=margin).max() == 0
    unmargined = zones({"urinary_bladder": organ}, {"urinary_bladder": 0.0}, CM, suv.shape)
    assert (_detect(suv, organ=unmargined[0], margin=unmargined[1], min_ml=1) > 0).sum() == (suv == 5).sum()


def test_a_lesion_next_to_an_organ_keeps_its_margin_part_and_one_inside_the_margin_goes():
    organ = np.zeros((12, 12, 24), bool)
    organ[4:8, 4:8, 2:6] = True
    suv = np.where(organ, 20.0, 1.0).astype(np.float32)
    suv[4:8, 4:8, 6:10] = 8.0  # touching the organ: x 6 and 7 within 2 cm of it, x 8 and 9 outside
    suv[4:8, 4:8, 16:18] = 8.0  # a second organ's margin holds all of this one: x 16, 17 within 2 cm of x 18..
    other = np.zeros(organ.shape, bool)
    other[4:8, 4:8, 18:22] = True
    suv[other] = 15.0
    inside, margin = zones({"urinary_bladder": organ, "kidneys": other}, {"urinary_bladder": 20.0, "kidneys": 20.0},
                           CM, suv.shape)
    labels = _detect(suv, organ=inside, margin=margin)
    assert labels.max() == 1 and (labels > 0).sum() == 64 and (labels[4:8, 4:8, 6:10] == 1).all()
    kept = exclude(suv >= 4, inside, margin, CM)
    assert not kept[inside].any() and not kept[..., 16:18].any()
    assert not exclude(suv >= 4, inside, np.zeros(suv.shape), CM)[inside].any()


def test_overlapping_margins_take_the_wider():
    a, b = np.zeros((3, 3, 9), bool), np.zeros((3, 3, 9), bool)
    a[1, 1, 2], b[1, 1, 6] = True, True
    _, margin = zones({"brain": a, "heart": b}, {"brain": 30.0, "heart": 10.0}, CM, a.shape)
    assert margin[1, 1, 5] == 30 and margin[1, 1, 7] == pytest.approx(DIAGONAL)
    assert margin[1, 1, 6] == 0 and margin[1, 1, 8] == 0
    organ, margin = zones({}, {}, CM, a.shape)  # nothing excluded
    assert organ.shape == margin.shape == a.shape and not organ.any() and not margin.any()


def _grid(array: np.ndarray, spacing: float, origin: float = 0.0) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((spacing,) * 3)
    image.SetOrigin((origin,) * 3)
    return image


def test_agreement_with_contours_on_the_ct_grid():
    detected = np.zeros((8, 8, 8), np.uint16)
    detected[2:4, 2:4, 2:4] = 1  # covers CT voxels 4..7 (1 cm PET voxels, 5 mm CT voxels, the same field)
    detected[6, 6, 6] = 2  # CT voxels 12, 13: no contour there
    contours = np.zeros((16, 16, 16), np.uint16)
    contours[4:8, 4:8, 4:6] = 1  # inside detected lesion 1
    contours[0:2, 0:2, 0:2] = 5  # missed
    found = agreement(_grid(detected, 10.0, 2.5), _grid(contours, 5.0))
    assert found == {"contoured_lesions": 2, "detected_contoured": 1, "detection_recall": 0.5, "false_positives": 1,
                     "dice": pytest.approx(2 * 32 / (72 + 40))}
    none = agreement(_grid(detected * 0, 10.0, 2.5), _grid(contours * 0, 5.0))
    assert none["contoured_lesions"] == 0 and math.isnan(none["detection_recall"]) and math.isnan(none["dice"])


def test_settings_and_organ_groups():
    assert settings_from({}) == Settings() and Settings().exclude == DEFAULT_EXCLUDE
    custom = settings_from({"threshold": {"rule": "relative"}, "min_volume_ml": 1, "exclude": {"bowel": 5}})
    assert custom.threshold.rule == "relative" and custom.min_volume_ml == 1.0 and custom.exclude == {"bowel": 5}
    assert physiological_classes("kidneys") == KIDNEYS and physiological_classes("total/esophagus") == (
        "total/esophagus",)
    with pytest.raises(ValueError, match="unknown organ group"):
        physiological_classes("ureters")


def _write(image: sitk.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


@pytest.fixture()
def scan(tmp_path: Path) -> dict[str, Path]:
    """A PET (1 cm voxels, 12 x 12 x 16) with a 27 ml lesion at SUV 8, a liver at SUV 2 and a bladder at SUV 20;
    masks and a contour on a 5 mm CT grid of the same field."""
    suv = np.ones((12, 12, 16), np.float32)
    suv[2:5, 2:5, 10:13] = 8.0
    liver = np.zeros(suv.shape, bool)
    liver[5:11, 3:9, 1:9] = True
    suv[liver] = 2.0
    bladder = np.zeros(suv.shape, bool)
    bladder[1:4, 6:10, 11:15] = True
    suv[bladder] = 20.0

    def ct(mask: np.ndarray, dtype=np.uint8) -> sitk.Image:
        return _grid(mask.astype(dtype).repeat(2, 0).repeat(2, 1).repeat(2, 2), 5.0)

    contour = np.zeros(suv.shape, np.uint16)
    contour[3, 3, 11] = 4
    paths = {"pet": tmp_path / "pet_suv.nii.gz", "seg": tmp_path / "seg", "contours": tmp_path / "lesions.nii.gz"}
    _write(_grid(suv, 10.0, 2.5), paths["pet"])
    _write(ct(contour, np.uint16), paths["contours"])
    _write(ct(liver), mask_path(paths["seg"], LIVER))
    _write(ct(bladder), mask_path(paths["seg"], URINARY_BLADDER))
    return paths


def _measure(scan: dict[str, Path], out: Path, settings: Settings | None = None, contoured: bool = True) -> pd.Series:
    measure_burden(scan["pet"], scan["seg"], scan["contours"], REPO / "params/pet.yaml", "P1", "baseline",
                   out / "lesions.nii.gz", out / "excluded.nii.gz", out / "lesions.tsv", out / "burden.tsv",
                   settings=settings, contoured=contoured)
    table = read_tsv(out / "burden.tsv")
    assert list(table.columns) == NAMES and len(table) == 1
    return table.iloc[0]


def test_one_burden_job_writes_the_lesion_map_tables_and_agreement(scan, tmp_path):
    out = tmp_path / "burden"
    row = _measure(scan, out)
    assert row["threshold_rule"] == "absolute" and row["threshold_suv"] == 4.0
    assert row["tmtv_ml"] == pytest.approx(27) and row["tlg"] == pytest.approx(27 * 8) and row["lesion_count"] == 1
    assert row["suvmax"] == 8 and row["dmax_mm"] == 0 and row["excluded_ml"] == pytest.approx(48)
    assert (row["contoured_lesions"], row["detected_contoured"], row["false_positives"]) == (1, 1, 0)
    assert row["detection_recall"] == 1 and row["dice"] == pytest.approx(2 * 8 / (27 * 8 + 8))
    assert pd.isna(row["reason"])
    labels = sitk.ReadImage(str(out / "lesions.nii.gz"))
    pet = sitk.ReadImage(str(scan["pet"]))
    assert labels.GetPixelID() == sitk.sitkUInt16 and labels.GetSize() == pet.GetSize()
    assert labels.GetOrigin() == pet.GetOrigin() and labels.GetSpacing() == pet.GetSpacing()
    excluded = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "excluded.nii.gz")))
    assert (excluded == ORGAN).sum() == 48 and (excluded == MARGIN).any()
    lesion = read_tsv(out / "lesions.tsv").iloc[0]
    assert lesion["modality"] == "PT" and lesion["lesion"] == 1 and lesion["suvmax"] == 8
    assert lesion["mtv_ml"] == pytest.approx(27) and lesion["original_shape_VoxelVolume"] == pytest.approx(27000)


def test_a_job_without_contours_or_liver_reference_says_why(scan, tmp_path):
    row = _measure(scan, tmp_path / "a", contoured=False)
    assert row["tmtv_ml"] == pytest.approx(27) and pd.isna(row["detection_recall"])
    assert row["reason"] == "no contoured lesions to compare with"
    percist = _measure(scan, tmp_path / "b", Settings(Threshold("percist")))
    assert percist["threshold_suv"] == pytest.approx(3.0) and percist["lesion_count"] == 1
    mask_path(scan["seg"], LIVER).unlink()
    missing = _measure(scan, tmp_path / "c", Settings(Threshold("percist")))
    assert pd.isna(missing["tmtv_ml"]) and "liver mask" in missing["reason"]
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "c/lesions.nii.gz"))).max() == 0


def test_mip_projects_along_the_patient_axis_and_draws(scan, tmp_path):
    suv = np.zeros((4, 5, 6))
    suv[1, 3, 2] = 7
    views = projections(suv, (suv > 0).astype(np.uint16), np.zeros(suv.shape, np.uint8))
    assert views["suv"].shape == (4, 6) and views["suv"][1, 2] == 7 and views["lesion"].sum() == 1
    out = tmp_path / "burden"
    _measure(scan, out)
    draw_mip(scan["pet"], out / "lesions.nii.gz", out / "excluded.nii.gz", out / "burden.tsv", "P1 baseline",
             out / "mip.png")
    assert (out / "mip.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "mip.png").stat().st_size > 5000
