"""Lesions cut by the field of view: first-order and texture features equal pyradiomics on the cut image, shape NA,
status truncated (or failed with ``border="exclude"``), and the aggregates take them in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from radiomics.featureextractor import RadiomicsFeatureExtractor

from wbrad.delta.changes import track_changes
from wbrad.io import read_tsv
from wbrad.lesions.aggregate import aggregate
from wbrad.lesions.diameters import recist_axes
from wbrad.lesions.extract import extract_lesions, feature_columns, make_extractor
from wbrad.lesions.run import extract_scan

REPO = Path(__file__).resolve().parents[1]
CT_PARAMS = REPO / "params" / "ct.yaml"
CASES_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "pyradiomics_testcases" / "data"
SPACING = (0.7, 0.8, 2.5)
CUT_REASON = "touches the image border at z=0 (inferior), x=49 (left): shape features and short axis NA"


def _ellipsoid(shape: tuple[int, ...], centre: tuple[float, ...], radii: tuple[float, ...]) -> np.ndarray:
    grid = np.indices(shape)
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True)) <= 1


def _body() -> tuple[sitk.Image, sitk.Image]:
    """A noisy CT-like body (int16, anisotropic) with lesion 1 in the middle and lesion 3 near its lower left corner."""
    shape = (36, 40, 56)
    values = np.random.default_rng(3).normal(40, 60, shape).astype(np.int16)
    labels = np.zeros(shape, np.uint16)
    labels[_ellipsoid(shape, (18, 20, 20), (3, 5, 6))] = 1
    labels[_ellipsoid(shape, (6, 20, 48), (4, 6, 6.5))] = 3
    image, label_map = sitk.GetImageFromArray(values), sitk.GetImageFromArray(labels)
    image.SetSpacing(SPACING)
    image.SetOrigin((-100.0, 20.0, 290.0))
    label_map.CopyInformation(image)
    return image, label_map


def _scan() -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """The body's scan, its field of view cut through lesion 3 below (z) and on the left (x): image, lesion map, and
    the whole body's lesion map."""
    image, labels = _body()
    cut = (slice(0, 50), slice(None), slice(4, None))  # x, y, z: SimpleITK slicing keeps the physical positions
    return image[cut], labels[cut], labels


def _direct(extractor: RadiomicsFeatureExtractor, image: sitk.Image, labels: sitk.Image, k: int,
            pad: int | None = None) -> dict[str, float]:
    """pyradiomics itself on the whole (cut) image, or on the lesion's box grown by ``pad`` voxels (stopping at the
    border), the lesion's mask limited to the voxels in it."""
    mask = sitk.Cast(labels == k, sitk.sitkUInt8)
    if pad is not None:
        found = np.nonzero(sitk.GetArrayViewFromImage(mask))
        box = tuple(slice(max(int(i.min()) - pad, 0), min(int(i.max()) + 1 + pad, n))
                    for i, n in zip(found[::-1], image.GetSize(), strict=True))
        image, mask = image[box], mask[box]
    return {name: float(v) for name, v in extractor.execute(image, mask, label=1).items()
            if not name.startswith("diagnostics_")}


def _assert_kept(row: pd.Series, direct: dict[str, float], columns: list[str]) -> float:
    """Non-shape features equal pyradiomics' to 1e-6 relative, shape features NaN; returns the largest relative
    difference."""
    shape = [c for c in columns if "_shape" in c]
    kept = [c for c in columns if c not in shape]
    assert shape and kept and row[shape].isna().all()
    values, expected = row[kept].to_numpy(float), np.array([direct[c] for c in kept])
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-12)
    return float(np.max(np.abs(values - expected) / np.maximum(np.abs(expected), 1e-12)))


def test_cut_lesion_keeps_first_order_and_texture_of_pyradiomics() -> None:
    image, labels, whole = _scan()
    extractor = make_extractor(CT_PARAMS)
    table = extract_lesions(image, labels, extractor).set_index("lesion")
    columns = feature_columns(extractor)
    assert table["status"].to_dict() == {1: "ok", 3: "truncated"} and pd.isna(table.loc[1, "reason"])
    assert table.loc[3, "reason"] == CUT_REASON
    _assert_kept(table.loc[3], _direct(RadiomicsFeatureExtractor(str(CT_PARAMS)), image, labels, 3), columns)
    assert table.loc[1, columns].notna().all()
    # lower bounds: the visible part's volume and long axis; no short axis
    visible, full = sitk.GetArrayFromImage(labels) == 3, sitk.GetArrayFromImage(whole) == 3
    assert 0 < visible.sum() < full.sum()
    assert table.loc[3, "volume_ml"] == pytest.approx(visible.sum() * np.prod(SPACING) / 1000)
    assert table.loc[3, "long_axis_mm"] == pytest.approx(recist_axes(visible, SPACING)[0])
    assert table.loc[3, "long_axis_mm"] < recist_axes(full, SPACING)[0]
    assert np.isnan(table.loc[3, "short_axis_mm"])


def test_filtered_images_of_a_cut_lesion_equal_pyradiomics_on_its_crop() -> None:
    """LoG and wavelet images too, from the lesion's crop (the box grown by padDistance, stopping at the border). Near
    the border a filter's value depends on how it extends the image (wavelet: periodically), so pyradiomics on the
    whole scan, which filters the whole image, gives other values there (module docstring of extract)."""
    params = yaml.safe_load(CT_PARAMS.read_text())
    params["imageType"] = {"Original": {}, "LoG": {"sigma": [1.0]}, "Wavelet": {}}
    params["featureClass"] = {"shape": None, "firstorder": None, "glcm": None}
    image, labels, _ = _scan()
    extractor = make_extractor(params)
    row = extract_lesions(image, labels, extractor, lesion_ids=[3]).iloc[0]
    columns = feature_columns(extractor)
    assert row["status"] == "truncated"
    assert any(c.startswith("log-sigma-1-0-mm-3D_glcm") for c in columns)
    assert any(c.startswith("wavelet-HHH_firstorder") for c in columns)
    _assert_kept(row, _direct(RadiomicsFeatureExtractor(params), image, labels, 3, pad=5), columns)


def test_real_image_cut_through_its_lesion() -> None:
    """pyradiomics' brain1 case, its field of view cut through the lesion on the right (x) and below (z)."""
    if not CASES_DIR.is_dir():
        pytest.skip(f"pyradiomics test cases not found at {CASES_DIR}")
    cut = (slice(185, None), slice(None), slice(13, None))
    image = sitk.ReadImage(str(CASES_DIR / "brain1_image.nrrd"))[cut]
    labels = sitk.ReadImage(str(CASES_DIR / "brain1_label.nrrd"))[cut]
    extractor = make_extractor(CT_PARAMS)
    row = extract_lesions(image, labels, extractor, lesion_ids=[1]).iloc[0]
    assert row["status"] == "truncated"
    assert row["reason"] == "touches the image border at z=0 (inferior), x=0 (right): shape features and short axis NA"
    _assert_kept(row, _direct(RadiomicsFeatureExtractor(str(CT_PARAMS)), image, labels, 1), feature_columns(extractor))


def test_exclude_gives_a_failed_row_without_features() -> None:
    image, labels, _ = _scan()
    extractor = make_extractor(CT_PARAMS)
    kept = extract_lesions(image, labels, extractor).set_index("lesion")
    excluded = extract_lesions(image, labels, extractor, border="exclude").set_index("lesion")
    columns = feature_columns(extractor)
    assert excluded["status"].to_dict() == {1: "ok", 3: "failed"}
    assert excluded.loc[3, "reason"] == ("touches the image border at z=0 (inferior), x=49 (left): may extend beyond "
                                         "the field of view (lesions.border: exclude)")
    assert excluded.loc[3, columns].isna().all()
    geometry = ["volume_ml", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm", "long_axis_mm"]
    assert excluded.loc[3, geometry].to_list() == kept.loc[3, geometry].to_list()
    visible = sitk.GetArrayFromImage(labels) == 3
    assert excluded.loc[3, "short_axis_mm"] == pytest.approx(recist_axes(visible, SPACING)[1])
    pd.testing.assert_series_equal(excluded.loc[1], kept.loc[1])
    with pytest.raises(ValueError, match="unknown border handling"):
        extract_lesions(image, labels, extractor, border="drop")


def _pet_over(ct: sitk.Image, slices: int) -> sitk.Image:
    """A PET (SUV 1-10, 2 x 2 x 1 CT voxels each) covering the CT's lowest ``slices`` slices, the whole slices."""
    size = (ct.GetWidth() // 2, ct.GetHeight() // 2, slices)
    suv = np.random.default_rng(4).uniform(1, 10, size[::-1]).astype(np.float32)
    pet = sitk.GetImageFromArray(suv)
    pet.SetSpacing((2 * SPACING[0], 2 * SPACING[1], SPACING[2]))
    corner = ct.TransformContinuousIndexToPhysicalPoint((-0.5, -0.5, -0.5))
    pet.SetOrigin(tuple(c + s / 2 + 1e-6 for c, s in zip(corner, pet.GetSpacing(), strict=True)))
    return pet


@pytest.mark.parametrize("border", ["keep", "exclude"])
def test_scan_job_marks_cut_lesions_on_ct_and_pet(tmp_path: Path, border: str) -> None:
    """Through the job entry point: on the PET, lesion 3 is cut by the CT's border, lesion 1 (in the middle of the CT)
    reaches above the PET's field of view."""
    image, labels, _ = _scan()
    pet = _pet_over(image, 15)  # the PET ends at CT slice 14: lesion 1 spans 11-17, lesion 3 0-6
    for name, img in {"ct": image, "lesions": labels, "pet": pet}.items():
        sitk.WriteImage(img, str(tmp_path / f"{name}.nii.gz"))
    out = tmp_path / "lesions_pet.tsv"
    extract_scan(tmp_path / "ct.nii.gz", tmp_path / "lesions.nii.gz", CT_PARAMS, "PT", "P001", "baseline", out,
                 pet=tmp_path / "pet.nii.gz", border=border)
    table = read_tsv(out).set_index("lesion")
    note = "extends beyond the PET field of view at z=14 (superior)"
    if border == "keep":
        assert table["status"].to_dict() == {1: "truncated", 3: "truncated"}
        assert table.loc[1, "reason"] == f"{note}: MTV and TLG lower bounds"
        assert table.loc[3, "reason"] == CUT_REASON
        assert 0 < table.loc[1, "mtv_ml"] < table.loc[1, "volume_ml"] and table.loc[1, "tlg"] > 0
        assert table.loc[3, "mtv_ml"] == pytest.approx(table.loc[3, "volume_ml"])  # all of it inside the PET
        assert table.loc[1, "original_shape_VoxelVolume"] > 0  # the CT shows it whole
    else:
        assert table["status"].to_dict() == {1: "failed", 3: "failed"}
        assert table.loc[1, "reason"] == f"{note} (lesions.border: exclude)"
        assert table.loc[1, ["suvmax", "suvpeak", "suvmean", "mtv_ml", "tlg"]].isna().all()
        assert np.isnan(table.loc[3, "original_firstorder_Mean"]) and table.loc[3, "mtv_ml"] > 0


def test_truncated_lesions_enter_aggregates_and_deltas_where_not_nan() -> None:
    shape, mean = "original_shape_Sphericity", "original_firstorder_Mean"
    table = pd.DataFrame({
        "patient_id": "P1", "timepoint": "baseline", "modality": "CT", "lesion": [1, 2, 3],
        "status": ["ok", "truncated", "failed"], "reason": [pd.NA, CUT_REASON, "too small: 1 voxel"],
        "volume_ml": [2.0, 6.0, 0.001], "centroid_x_mm": [0.0, 30.0, 0.0], "centroid_y_mm": 0.0,
        "centroid_z_mm": 0.0, "long_axis_mm": [20.0, 30.0, np.nan], "short_axis_mm": [10.0, np.nan, np.nan],
        shape: [0.8, np.nan, np.nan], mean: [10.0, 30.0, np.nan],
    })
    row = aggregate(table).iloc[0]
    assert row["lesion_count"] == 3 and row["total_volume_ml"] == 8.0 and row["total_long_axis_mm"] == 50.0
    assert row[f"vwmean_{mean}"] == pytest.approx((2 * 10 + 6 * 30) / 8) and row[f"vwmean_{shape}"] == 0.8
    assert row[f"largest_{mean}"] == 30.0 and np.isnan(row[f"largest_{shape}"])  # the truncated lesion is largest
    assert row[f"range_{mean}"] == 20.0 and np.isnan(row[f"sd_{shape}"])  # one lesion with a shape
    assert row["spread_mm"] == 30.0
    followup = table.assign(timepoint="fu1", volume_ml=[1.0, 3.0, 0.001], **{mean: [20.0, 60.0, np.nan]})
    tracks = pd.DataFrame({"track": [1, 2, 3] * 2, "timepoint": ["baseline"] * 3 + ["fu1"] * 3,
                           "day": [0] * 3 + [90] * 3, "lesion": [1, 2, 3] * 2,
                           "status": ["baseline"] * 3 + ["matched"] * 3})
    changes = track_changes(tracks, table, followup, "baseline", "fu1", ["volume_ml", mean, shape]).set_index("track")
    assert changes.loc[2, f"rel_{mean}"] == 1.0 and changes.loc[2, "rel_volume_ml"] == -0.5
    assert np.isnan(changes.loc[2, f"abs_{shape}"])
