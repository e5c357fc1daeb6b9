"""Tests of wbrad.bodycomp: masks loading, L3 and spine checks, metrics, QC picture, precomputed backend."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image as mpimg
import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from wbrad.bodycomp import columns as declared
from wbrad.bodycomp.backends import SegmentationBackend, for_tissue_source, get_backend, segment_scan
from wbrad.bodycomp.cutoffs import Body, flag, flags, read_cutoffs
from wbrad.bodycomp.l3 import SpineLimits, find_spine
from wbrad.bodycomp.masks import load_scan, read_ct, scan_from
from wbrad.bodycomp.metrics import class_statistics
from wbrad.bodycomp.run import COLUMNS, Settings, bodycomp_row, measure
from wbrad.bodycomp.tissues import licence_free_tissues
from wbrad.io import read_tsv
from wbrad.segmentation import MUSCLES, load_task, read_class_map, read_derived, split_multilabel

REFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalsegmentator_refs"
FILES = REFS / "reference_files"
SPACING = (1.5, 2.0, 2.5)  # x, y, z mm: pixel 3 mm2, voxel 7.5 mm3
ORIGIN = (-20.0, 10.0, 100.0)
SHAPE = (30, 20, 24)  # z, y, x
LUMBAR_Z = {"L5": (3, 6), "L4": (7, 10), "L3": (11, 15), "L2": (16, 19), "L1": (20, 23)}  # L3 middle slice 13


def box(z: tuple[int, int], y: tuple[int, int], x: tuple[int, int]) -> np.ndarray:
    """Boolean [z, y, x] mask of an inclusive box."""
    m = np.zeros(SHAPE, bool)
    m[z[0]:z[1] + 1, y[0]:y[1] + 1, x[0]:x[1] + 1] = True
    return m


def synthetic() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A CT and masks with known counts: per slice 20 muscle, 24 VAT, 24 SAT pixels in their HU windows."""
    ct = np.full(SHAPE, -1000, np.int16)
    masks = {f"total/vertebrae_{v}": box(z, (11, 15), (10, 14)) for v, z in LUMBAR_Z.items()}
    for m in masks.values():
        ct[m] = 400
    masks["tissue_types/skeletal_muscle"] = box((0, 29), (2, 5), (2, 7))
    ct[:, 2:6, 2:5], ct[:, 2:6, 5:7], ct[:, 2:6, 7] = 40, 60, 200  # 20 pixels in -29..150, mean 48
    masks["tissue_types/torso_fat"] = box((0, 29), (8, 11), (2, 9))
    ct[:, 8:12, 2:10], ct[:, 8, 2:10] = -100, -20  # 24 pixels in -190..-30
    masks["tissue_types/subcutaneous_fat"] = box((0, 29), (16, 19), (16, 21))
    ct[:, 16:20, 16:22] = -100
    ct[13, 16, 16] = -195  # one SAT pixel outside the window, on the L3 slice only
    masks["total/liver"] = box((20, 25), (2, 6), (15, 20))  # 180 voxels: 90 at 50 HU, 90 at 70 HU
    ct[20:23, 2:7, 15:21], ct[23:26, 2:7, 15:21] = 50, 70
    ct[22:25, 8:10, 18:20] = 45
    masks["total/spleen"] = box((22, 24), (8, 9), (18, 19))  # 12 voxels
    return ct, masks


def image(arr: np.ndarray) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(SPACING)
    img.SetOrigin(ORIGIN)
    return img


def write_case(folder: Path, ct: np.ndarray, masks: dict[str, np.ndarray]) -> tuple[Path, Path]:
    """Write ct.nii.gz and seg/<task>/<class>.nii.gz; return their paths."""
    sitk.WriteImage(image(ct), str(folder / "ct.nii.gz"))
    for name, m in masks.items():
        (folder / "seg" / name).parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image(m.astype(np.uint8)), str(folder / "seg" / f"{name}.nii.gz"))
    return folder / "ct.nii.gz", folder / "seg"


SMALL = Settings(limits=SpineLimits(height_mm=(10, 60)))  # the synthetic vertebrae are 10-12.5 mm high


def row_for(masks: dict[str, np.ndarray], ct: np.ndarray, height_cm: float | None = 175.0,
            settings: Settings = SMALL) -> dict:
    return bodycomp_row(scan_from(image(ct), masks), Body("M", height_cm), "P001", "baseline", settings)[0]


def test_metrics_exact() -> None:
    ct, masks = synthetic()
    row = row_for(masks, ct)
    assert row["qc_status"] == "ok" and row["qc_reason"] is None
    assert row["l3_slice"] == 13
    assert row["l3_sma_cm2"] == pytest.approx(20 * 3 / 100)
    assert row["l3_smi_cm2m2"] == pytest.approx(0.6 / 1.75**2)
    assert row["l3_muscle_hu"] == pytest.approx(48.0)
    assert row["l3_vat_cm2"] == pytest.approx(24 * 3 / 100)
    assert row["l3_sat_cm2"] == pytest.approx(23 * 3 / 100)
    # bottom of L5 (z=3) to top of L1 (z=23): 21 slices
    assert row["l1l5_muscle_ml"] == pytest.approx(21 * 20 * 7.5 / 1000)
    assert row["l1l5_vat_ml"] == pytest.approx(21 * 24 * 7.5 / 1000)
    assert row["l1l5_sat_ml"] == pytest.approx((21 * 24 - 1) * 7.5 / 1000)
    assert row["liver_ml"] == pytest.approx(180 * 7.5 / 1000)
    assert row["liver_hu"] == pytest.approx(60.0)
    assert row["spleen_ml"] == pytest.approx(12 * 7.5 / 1000)


@pytest.mark.parametrize("height", [None, float("nan")])
def test_height_missing_gives_na_smi_but_ok(height: float | None) -> None:
    ct, masks = synthetic()
    row = row_for(masks, ct, height)
    assert row["qc_status"] == "ok" and row["qc_reason"] == "height missing"
    assert math.isnan(row["l3_smi_cm2m2"]) and row["l3_sma_cm2"] == pytest.approx(0.6)


def swap_l1_l5(masks: dict[str, np.ndarray]) -> None:
    masks["total/vertebrae_L1"], masks["total/vertebrae_L5"] = masks["total/vertebrae_L5"], masks["total/vertebrae_L1"]


@pytest.mark.parametrize(("change", "reason"), [
    (lambda m: m.pop("total/vertebrae_L3"), "vertebrae_L3 missing"),
    (lambda m: m["total/vertebrae_L1"].fill(False), "vertebrae_L1 missing"),
    (swap_l1_l5, "lumbar vertebrae not ordered L1 above L5"),
    (lambda m: m.pop("tissue_types/skeletal_muscle"), "tissue_types/skeletal_muscle missing"),
    (lambda m: m["tissue_types/skeletal_muscle"][13].fill(False), "no skeletal muscle on the L3 slice"),
])
def test_qc_failures_give_na_l3_metrics_but_organs(change, reason: str) -> None:
    ct, masks = synthetic()
    change(masks)
    row = row_for(masks, ct)
    assert row["qc_status"] == "failed" and reason in row["qc_reason"]
    for col in COLUMNS[3:11]:
        assert col not in row  # NA once written
    assert row["liver_ml"] == pytest.approx(1.35) and row["spleen_ml"] == pytest.approx(0.09)


def test_l3_touching_the_border_fails() -> None:
    masks = {"total/vertebrae_L3": box((0, 4), (12, 15), (10, 13))}
    spine = find_spine(masks, SHAPE[0], SPACING[2])
    assert spine.l3_slice == 2
    assert "vertebrae_L3 touches the first or last slice" in spine.failures
    top = find_spine({"total/vertebrae_L3": box((25, 29), (12, 15), (10, 13))}, SHAPE[0], SPACING[2])
    assert "vertebrae_L3 touches the first or last slice" in top.failures


def test_missing_organs_are_na_with_reason() -> None:
    ct, masks = synthetic()
    del masks["total/liver"]
    masks["total/spleen"][:] = False
    row = row_for(masks, ct)
    assert row["qc_status"] == "ok" and row["qc_reason"] == "liver missing; spleen empty"
    assert all(math.isnan(row[c]) for c in ("liver_ml", "liver_hu", "spleen_ml"))


def test_measure_writes_tsv_and_png(tmp_path: Path) -> None:
    ct, masks = synthetic()
    ct_path, seg = write_case(tmp_path, ct, masks)
    measure(ct_path, seg, Body("M", 175.0), "P001", "baseline", tmp_path / "out" / "bodycomp.tsv",
            tmp_path / "out" / "qc" / "bodycomp.png", SMALL)
    df = read_tsv(tmp_path / "out" / "bodycomp.tsv")
    assert list(df.columns) == COLUMNS and len(df) == 1
    assert df.loc[0, "l3_slice"] == 13 and df.loc[0, "l3_sma_cm2"] == pytest.approx(0.6)
    assert df.loc[0, "qc_status"] == "ok" and df["qc_reason"].isna().all()
    png = mpimg.imread(tmp_path / "out" / "qc" / "bodycomp.png")
    assert png.shape[:2] == (400, 800)


def test_measure_failed_row_has_na(tmp_path: Path) -> None:
    ct, masks = synthetic()
    del masks["total/vertebrae_L3"]
    ct_path, seg = write_case(tmp_path, ct, masks)
    measure(ct_path, seg, Body(), "P002", "fu1", tmp_path / "b.tsv", tmp_path / "b.png", SMALL)
    text = (tmp_path / "b.tsv").read_text().splitlines()
    values = dict(zip(text[0].split("\t"), text[1].split("\t"), strict=True))
    assert values["qc_status"] == "failed" and values["qc_reason"] == "vertebrae_L3 missing"
    assert all(values[c] == "NA" for c in COLUMNS[2:11])
    assert float(values["liver_ml"]) == pytest.approx(1.35)
    assert mpimg.imread(tmp_path / "b.png").shape[:2] == (400, 800)


def test_mask_on_other_grid_errors_naming_file(tmp_path: Path) -> None:
    ct, masks = synthetic()
    ct_path, seg = write_case(tmp_path, ct, masks)
    bad = image(masks["total/liver"].astype(np.uint8))
    bad.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(bad, str(seg / "total" / "liver.nii.gz"))
    with pytest.raises(ValueError, match=r"P1 baseline: .*liver\.nii\.gz is not on the geometry of .*ct\.nii\.gz: "
                                         r"origin"):
        measure(ct_path, seg, Body(height_cm=170.0), "P1", "baseline", tmp_path / "x.tsv", tmp_path / "x.png")


def test_precomputed_backend_copies_and_reorients(tmp_path: Path) -> None:
    ct, masks = synthetic()
    ct_path, seg = write_case(tmp_path, ct, masks)
    # the same liver mask stored RAS (flipped axes and direction) must come back canonical
    sitk.WriteImage(sitk.DICOMOrient(image(masks["total/liver"].astype(np.uint8)), "RAS"),
                    str(seg / "total" / "liver.nii.gz"))
    backend = get_backend("precomputed")
    assert isinstance(backend, SegmentationBackend)
    backend.segment(ct_path, tmp_path / "out_seg", seg)
    written = sorted(p.relative_to(tmp_path / "out_seg").as_posix() for p in (tmp_path / "out_seg").rglob("*.nii.gz"))
    assert written == sorted(f"{name}.nii.gz" for name in masks)
    liver = sitk.ReadImage(str(tmp_path / "out_seg" / "total" / "liver.nii.gz"))
    assert liver.GetPixelID() == sitk.sitkUInt8 and liver.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(liver), masks["total/liver"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folder left behind"


def test_precomputed_backend_rejects_mismatched_geometry(tmp_path: Path) -> None:
    ct, masks = synthetic()
    ct_path, seg = write_case(tmp_path, ct, masks)
    bad = sitk.GetImageFromArray(masks["total/spleen"][:, :, :-1].astype(np.uint8))
    bad.SetSpacing(SPACING)
    bad.SetOrigin(ORIGIN)
    sitk.WriteImage(bad, str(seg / "total" / "spleen.nii.gz"))
    with pytest.raises(ValueError, match=r"spleen\.nii\.gz is not on the geometry of .*ct\.nii\.gz: size"):
        get_backend("precomputed").segment(ct_path, tmp_path / "out_seg", seg)
    assert not (tmp_path / "out_seg").exists()


def test_precomputed_backend_rejects_non_binary(tmp_path: Path) -> None:
    ct, masks = synthetic()
    ct_path, seg = write_case(tmp_path, ct, masks)
    sitk.WriteImage(image(masks["total/spleen"].astype(np.uint8) * 2), str(seg / "total" / "spleen.nii.gz"))
    with pytest.raises(ValueError, match=r"spleen\.nii\.gz: a mask must hold only 0 and 1, found \[0, 2\]"):
        get_backend("precomputed").segment(ct_path, tmp_path / "out_seg", seg)


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown segmentation backend 'nnunet'; known: precomputed"):
        get_backend("nnunet")


def need_refs() -> None:
    if not FILES.is_dir():
        pytest.skip(f"TotalSegmentator reference files not found: {FILES}")


def test_class_statistics_match_totalsegmentator() -> None:
    """Volume and mean HU of all 117 example_seg_fast classes equal TotalSegmentator's statistics.json."""
    need_refs()
    ct = read_ct(FILES / "example_ct_sm.nii.gz")
    folder = FILES / "example_seg_fast"
    scan = scan_from(ct, load_task(folder, ct, "example_ct_sm", "total"))
    stats = class_statistics(scan)
    expected = json.loads((folder / "statistics.json").read_text())
    assert len(expected) == 117 and sorted(stats) == sorted(f"total/{c}" for c in expected)
    for cls, ref in expected.items():
        got = stats[f"total/{cls}"]
        assert got["volume"] == ref["volume"], cls
        if ref["volume"] == 0:
            assert math.isnan(got["intensity"]), cls  # NA, where upstream writes 0
        else:
            assert got["intensity"] == pytest.approx(ref["intensity"], abs=1e-4), cls
    assert stats["total/liver"]["volume"] == 1062450 and round(stats["total/liver"]["intensity"], 5) == 44.85855


def test_l3_middle_slice_on_real_ct() -> None:
    """README: vertebrae_L3 spans z = 65..79 of nibabel's (RAS) array, middle slice 72."""
    need_refs()
    seg_path = FILES / "example_seg_fast_force_split.nii.gz"
    ras = np.asanyarray(nib.load(seg_path).dataobj)
    z = np.flatnonzero((ras == 29).any(axis=(0, 1)))
    assert (z[0], z[-1], (z[0] + z[-1]) // 2) == (65, 79, 72)
    masks = split_multilabel(seg_path, read_class_map(REFS / "class_map_total.tsv"))
    ct = read_ct(FILES / "example_ct.nii.gz")
    spine = find_spine(masks, ct.GetSize()[2], ct.GetSpacing()[2])
    # RAS -> LPS flips x and y only, so the axial index is unchanged
    assert spine.extents["total/vertebrae_L3"] == (65, 79) and spine.l3_slice == 72
    assert spine.l3_slice == ct.TransformPhysicalPointToIndex(
        nib.load(seg_path).affine[:3] @ np.array([0, 0, 72, 1]) * (-1, -1, 1))[2]
    # the README's helper numbers on that slice: autochthon L+R area 49.68 cm2
    autochthon = masks["total/autochthon_left"][72] | masks["total/autochthon_right"][72]
    assert np.count_nonzero(autochthon) * 9 / 100 == pytest.approx(49.68)
    assert spine.ok and spine.l1l5_range == (42, 103)  # L5 from z=42 up to L1 ending at z=103


def test_real_tissue_types_through_load_scan(tmp_path: Path) -> None:
    """Tissue volumes from the README's helper table, loaded through the seg-folder path."""
    need_refs()
    seg = tmp_path / "seg"
    seg.mkdir()
    (seg / "tissue_types").symlink_to(FILES / "example_seg_tissue_types")
    scan = load_scan(FILES / "example_ct_sm.nii.gz", seg)
    stats = class_statistics(scan)
    assert stats["tissue_types/skeletal_muscle"]["volume"] == 35293 * 27
    assert stats["tissue_types/subcutaneous_fat"]["volume"] == 35357 * 27
    assert stats["tissue_types/torso_fat"]["volume"] == 33969 * 27
    assert stats["tissue_types/skeletal_muscle"]["intensity"] == pytest.approx(17.60, abs=5e-3)


def test_precomputed_backend_needs_a_source(tmp_path: Path) -> None:
    ct, masks = synthetic()
    ct_path, _ = write_case(tmp_path, ct, masks)
    with pytest.raises(FileNotFoundError, match=r"precomputed segmentation folder not found: None \(for CT .*ct\.nii"):
        get_backend("precomputed").segment(ct_path, tmp_path / "out_seg", None)


CUTOFFS = Path(__file__).resolve().parents[1] / "params" / "bodycomp_cutoffs.tsv"


def test_new_metrics_exact() -> None:
    """Slice and L3-body averages, low-attenuation fraction, intermuscular fat, trunk volumes, spleen and L1 bone."""
    ct, masks = synthetic()
    ct[13, 2, 2:4] = 0  # two low-attenuation muscle pixels on the L3 slice (mean 48 -> 44)
    ct[11, 2, 2:5] = -100  # three fat pixels inside the muscle mask on the lowest L3 slice
    row = row_for(masks, ct)
    assert row["l3_lama_fraction"] == pytest.approx(2 / 20) and row["l3_muscle_hu"] == pytest.approx(44.0)
    assert row["l3_imat_cm2"] == 0 and row["l3_vat_sat_ratio"] == pytest.approx(24 / 23)
    # L3 spans z = 11..15: per-slice means over 5 slices
    assert row["l3avg_sma_cm2"] == pytest.approx((4 * 20 + 17) * 3 / 100 / 5)
    assert row["l3avg_imat_cm2"] == pytest.approx(3 * 3 / 100 / 5)
    assert row["l3avg_sat_cm2"] == pytest.approx((5 * 24 - 1) * 3 / 100 / 5)
    assert row["l3avg_lama_fraction"] == pytest.approx(2 / 97)
    assert row["trunk_muscle_ml"] == pytest.approx((30 * 20 - 3) * 7.5 / 1000)
    assert row["trunk_imat_ml"] == pytest.approx(3 * 7.5 / 1000)
    assert row["spleen_hu"] == pytest.approx(45.0) and row["l1_bone_hu"] == pytest.approx(400.0)


def test_intermuscular_fat_from_tissue_4_types_when_present() -> None:
    ct, masks = synthetic()
    masks["tissue_4_types/intermuscular_fat"] = box((13, 13), (8, 8), (2, 9))  # 8 VAT pixels, fat HU -20: outside
    masks["tissue_4_types/intermuscular_fat"][13, 9, 2:9] = True  # 7 pixels at -100
    assert row_for(masks, ct)["l3_imat_cm2"] == pytest.approx(7 * 3 / 100)


def test_l1_bone_density_leaves_out_the_cortex() -> None:
    ct, masks = synthetic()
    l1 = masks["total/vertebrae_L1"]
    ct[l1] = 800
    ct[20:24, 12:15, 12] = 150  # the core that a 3 mm erosion keeps (z +-1, y +-1, x +-2 voxels)
    assert row_for(masks, ct)["l1_bone_hu"] == pytest.approx(150.0)


def test_flags_from_martin_2013() -> None:
    martin = read_cutoffs(CUTOFFS, "martin2013")
    lean, heavy = Body("M", 180, 80), Body("M", 180, 82)  # BMI 24.7 and 25.3
    assert flag(martin, "smi_cm2m2", 42.9, lean) == (1, None) and flag(martin, "smi_cm2m2", 43.0, lean) == (0, None)
    assert flag(martin, "smi_cm2m2", 52.9, heavy) == (1, None) and flag(martin, "muscle_hu", 34, heavy) == (0, None)
    assert flag(martin, "muscle_hu", 40, lean) == (1, None)
    assert flag(martin, "smi_cm2m2", 40.9, Body("F", 160)) == (1, None)  # women: no BMI needed for the SMI
    needs_bmi = "muscle_hu cut-off needs the BMI (height and weight)"
    assert flag(martin, "muscle_hu", 40, Body("F", 160)) == (None, needs_bmi)
    values, notes = flags(martin, {"l3_smi_cm2m2": 50.0, "l3_muscle_hu": float("nan")}, Body("M", 180))
    assert values == {"sarcopenia": None, "myosteatosis": None}
    assert notes == ["sarcopenia NA: smi_cm2m2 cut-off needs the BMI (height and weight)"]


def test_flags_from_prado_2008_and_unknown_source() -> None:
    prado = read_cutoffs(CUTOFFS, "prado2008")
    values, notes = flags(prado, {"l3_smi_cm2m2": 52.3, "l3_muscle_hu": 20.0}, Body("M", 180))
    assert values == {"sarcopenia": 1, "myosteatosis": None}
    assert notes == ["myosteatosis NA: no muscle_hu cut-off for sex M"]
    with pytest.raises(ValueError, match=r"bodycomp_cutoffs\.tsv: no cut-offs for source 'baracos'; known: "):
        read_cutoffs(CUTOFFS, "baracos")


def test_flags_in_the_row_and_the_table(tmp_path: Path) -> None:
    ct, masks = synthetic()
    settings = Settings(cutoffs=read_cutoffs(CUTOFFS, "martin2013"), limits=SMALL.limits)
    ct_path, seg = write_case(tmp_path, ct, masks)
    measure(ct_path, seg, Body("F", 175.0, 60.0), "P1", "baseline", tmp_path / "t.tsv", tmp_path / "t.png", settings)
    df = read_tsv(tmp_path / "t.tsv")
    assert df.loc[0, "sarcopenia"] == 1 and df.loc[0, "myosteatosis"] == 0  # SMI 0.2, muscle 48 HU
    assert df.loc[0, "qc_status"] == "ok"


@pytest.mark.parametrize(
    ("move", "reason"),
    [
        ({"L2": (18, 19)}, "L2 height 5 mm outside 10-60 mm"),
        ({"L1": (26, 29), "L2": (22, 25)}, "L3-L4 not contiguous"),
    ],
)
def test_spine_checks_heights_and_gaps(move: dict, reason: str) -> None:
    ct, masks = synthetic()
    if "L1" in move:  # a gap of 10 mm below L2 fails a 5 mm limit
        limits = SpineLimits(height_mm=(10, 60), max_gap_mm=5)
        masks["total/vertebrae_L3"] = box((14, 15), (11, 15), (10, 14)) | box((11, 12), (11, 15), (10, 14))
        masks["total/vertebrae_L4"] = box((4, 7), (11, 15), (10, 14))
        masks["total/vertebrae_L5"] = box((1, 3), (11, 15), (10, 14))
    else:
        limits = SMALL.limits
    for name, z in move.items():
        masks[f"total/vertebrae_{name}"] = box(z, (11, 15), (10, 14))
    spine = find_spine(masks, SHAPE[0], SPACING[2], limits)
    assert any(reason in f for f in spine.failures), spine.failures
    row = row_for(masks, ct, settings=Settings(limits=limits))
    assert row["qc_status"] == "failed" and "l3_sma_cm2" not in row


def licence_free(masks: dict[str, np.ndarray], ct: np.ndarray) -> dict[str, np.ndarray]:
    """The masks with the licence-free tissue masks in place of tissue_types', as the segment job writes them."""
    muscles = np.any([m for name, m in masks.items() if name in MUSCLES], axis=0)
    kept = {name: m for name, m in masks.items() if not name.startswith("tissue_types/")}
    return kept | licence_free_tissues(ct, muscles)


def test_licence_free_source_and_segmentation_tasks() -> None:
    ct, masks = synthetic()
    masks["total/autochthon_left"] = masks.pop("tissue_types/skeletal_muscle")
    row = row_for(licence_free(masks, ct), ct)
    assert row["l3_sma_cm2"] == pytest.approx(0.6) and row["qc_status"] == "ok"
    seg = {"backend": "totalsegmentator", "totalsegmentator": {"tasks": ["total", "tissue_types", "body"]}}
    assert for_tissue_source(seg, "licence_free")["totalsegmentator"]["tasks"] == ["body", "total"]
    assert for_tissue_source(seg, "tissue_types") is seg
    with pytest.raises(ValueError, match="unknown bodycomp tissue_source 'otsu'"):
        Settings("otsu")


def test_l3_metrics_on_the_real_ct_licence_free() -> None:
    """example_ct with example_seg_fast_force_split, licence-free: L3 slice 72 and its muscle numbers."""
    need_refs()
    masks = split_multilabel(
        FILES / "example_seg_fast_force_split.nii.gz", read_class_map(REFS / "class_map_total.tsv")
    )
    ct = read_ct(FILES / "example_ct.nii.gz")
    scan = scan_from(ct, licence_free(masks, sitk.GetArrayFromImage(ct)))
    settings = Settings("licence_free", read_cutoffs(CUTOFFS, "martin2013"))
    row = bodycomp_row(scan, Body("M", 175.0, 70.0), "example", "baseline", settings)[0]
    assert row["qc_status"] == "ok" and row["l3_slice"] == 72
    assert row["l3_sma_cm2"] == pytest.approx(59.85) and row["l3_muscle_hu"] == pytest.approx(20.195, abs=1e-3)
    assert row["l3avg_sma_cm2"] == pytest.approx(57.876)
    assert row["liver_ml"] == pytest.approx(1125.684) and row["l1_bone_hu"] == pytest.approx(127.5, abs=0.1)
    assert row["sarcopenia"] == 1 and row["myosteatosis"] == 1


def test_segment_job_writes_the_licence_free_masks_for_every_stage(tmp_path: Path) -> None:
    """Licence-free route, precomputed backend: the job replaces the source's tissue_types with the derived masks,
    records them in derived.json, and bodycomp reads them; a config asking for the other route is refused."""
    ct, masks = synthetic()
    masks["total/autochthon_left"] = masks["tissue_types/skeletal_muscle"]
    masks["tissue_4_types/intermuscular_fat"] = box((13, 13), (9, 9), (2, 9))
    ct_path, source = write_case(tmp_path, ct, masks)
    seg = tmp_path / "out_seg"
    segment_scan({"backend": "precomputed"}, "licence_free", ct_path, seg, source)
    assert sorted(p.name for p in (seg / "tissue_types").iterdir()) == [
        "skeletal_muscle.nii.gz",
        "subcutaneous_fat.nii.gz",
        "torso_fat.nii.gz",
    ]
    assert not (seg / "tissue_4_types").exists()
    derived = read_derived(seg)
    assert derived["tissue_source"] == "licence_free"
    assert derived["classes"]["tissue_types/skeletal_muscle"]["from"] == ["total/autochthon_left"]
    expected = licence_free(masks, ct)
    for name in ("tissue_types/skeletal_muscle", "tissue_types/subcutaneous_fat", "tissue_types/torso_fat"):
        written = sitk.GetArrayFromImage(sitk.ReadImage(str(seg / f"{name}.nii.gz")))
        np.testing.assert_array_equal(written, expected[name], err_msg=name)
    settings = Settings("licence_free", limits=SMALL.limits)
    measure(ct_path, seg, Body("M", 175.0), "P1", "baseline", tmp_path / "t.tsv", tmp_path / "t.png", settings)
    assert read_tsv(tmp_path / "t.tsv").loc[0, "l3_sma_cm2"] == pytest.approx(0.6)
    with pytest.raises(
        ValueError,
        match=r"P1 baseline: .*out_seg: its tissue masks come from tissue_source "
        r"licence_free, the config asks for tissue_types: rerun the segment rule",
    ):
        measure(ct_path, seg, Body("M", 175.0), "P1", "baseline", tmp_path / "t.tsv", tmp_path / "t.png", SMALL)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folder left behind"


def test_row_keys_are_exactly_the_declared_columns() -> None:
    """The names metrics.py and bodycomp_row produce are the declaration's (failed rows: a part of them), and
    bodycomp.tsv is written in the declared order."""
    ct, masks = synthetic()
    settings = Settings(cutoffs=read_cutoffs(CUTOFFS, "martin2013"), limits=SMALL.limits)
    names = [column.name for column in declared.COLUMNS]
    assert COLUMNS == names and len(set(names)) == 36
    assert sorted(row_for(masks, ct, settings=settings)) == sorted(names)
    del masks["total/vertebrae_L3"]
    failed = row_for(masks, ct, settings=settings)
    assert failed["qc_status"] == "failed" and set(failed) < set(names)
    assert all(column.unit and column.description for column in declared.COLUMNS)
