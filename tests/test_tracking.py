"""wbrad.tracking: registration of a moved synthetic follow-up, lesion geometry, matching statuses and gates, tracks
over two follow-ups, shared-label agreement, transform files."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad import integrity
from wbrad.synth import write_cohort
from wbrad.synth.followup import Pose
from wbrad.tracking.lesions import lesion_table, lesions_of, to_baseline
from wbrad.tracking.match import Gates, match
from wbrad.tracking.register import Settings, displacement_mm, load_transform, quality, register, save_transform
from wbrad.tracking.tracks import shared_labels_agreement, track_patient

SPACING = 3.0
SHAPE = (80, 64, 80)  # x, y, z
ORIGIN = (-118.5, -94.5, 0.0)
CENTRE = (0.0, 0.0, 120.0)
# baseline lesions: label -> (centre x, y, z in mm, radius mm)
BASELINE = {1: (-40, -10, 80, 8), 2: (30, -20, 120, 6), 3: (10, 20, 60, 7), 4: (-25, -30, 160, 6),
            5: (-5, -30, 160, 6), 6: (45, 10, 180, 10), 7: (-50, 20, 100, 5)}
NEW = (20, -40, 90, 6)
# follow-up scans, as (label, spheres); lesion 1 shrinks, 3 is gone at fu1 and back at fu2, 4 and 5 grow into one
# lesion, 6 fragments into two, NEW appears at fu1
FU1 = [(5, [(-40, -10, 80, 6)]), (3, [BASELINE[2][:3] + (7,)]), (1, [(-25, -30, 160, 11), (-5, -30, 160, 11)]),
       (2, [(38, 10, 180, 4.5)]), (7, [(52, 10, 180, 4.5)]), (4, [BASELINE[7]]), (6, [NEW])]
FU2 = [(2, [(-40, -10, 80, 5)]), (6, [BASELINE[2]]), (4, [BASELINE[3]]), (7, [(-25, -30, 160, 11), (-5, -30, 160, 11)]),
       (3, [(38, 10, 180, 4.5)]), (1, [(52, 10, 180, 4.5)]), (8, [BASELINE[7]]), (5, [NEW])]
# the truth: track -> lesion labels at fu1 and fu2 (track 8 is NEW), with statuses
EXPECTED = {
    "fu1": {1: ([5], "matched"), 2: ([3], "matched"), 3: ([], "disappeared"), 4: ([1], "merged"),
            5: ([1], "merged"), 6: ([2, 7], "split"), 7: ([4], "matched"), 8: ([6], "new")},
    "fu2": {1: ([2], "matched"), 2: ([6], "matched"), 3: ([4], "matched"), 4: ([7], "merged"),
            5: ([7], "merged"), 6: ([1, 3], "split"), 7: ([8], "matched"), 8: ([5], "matched")},
}
MOVES = {"fu1": ((0.05, -0.03, 0.04), (22.0, -15.0, 18.0)), "fu2": ((-0.04, 0.05, -0.03), (-18.0, 20.0, -25.0))}


def true_transform(rotation: tuple[float, float, float], translation: tuple[float, float, float]) -> sitk.Transform:
    """Baseline point -> follow-up point, rotation (radians) about CENTRE."""
    return sitk.Euler3DTransform(CENTRE, *rotation, translation)


def _grid() -> sitk.Image:
    img = sitk.Image(SHAPE, sitk.sitkInt16)
    img.SetSpacing((SPACING,) * 3)
    img.SetOrigin(ORIGIN)
    return img


def _points(transform: sitk.Transform | None, deform_mm: float, fine: int = 1) -> tuple[np.ndarray, ...]:
    """Baseline-frame coordinates (x, y, z arrays on the [z, y, x] grid) of each voxel of a scan moved by
    ``transform`` (None: the baseline itself) with a smooth deformation of amplitude ``deform_mm``; with ``fine``,
    of each of ``fine**3`` sub-voxels per voxel."""
    offset = (np.arange(fine) + 0.5) / fine - 0.5
    axes = [o + SPACING * (np.arange(n)[:, None] + offset).ravel() for o, n in zip(ORIGIN[::-1], SHAPE[::-1],
                                                                                   strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    q = np.stack([x, y, z], -1)
    if transform is None:
        return x, y, z
    inverse = transform.GetInverse()
    m = np.asarray(inverse.GetMatrix()).reshape(3, 3)
    p = (q - CENTRE) @ m.T + np.asarray(inverse.GetTranslation()) + CENTRE
    p[..., 0] += deform_mm * np.sin(2 * np.pi * q[..., 2] / 240)
    p[..., 1] += deform_mm * np.cos(2 * np.pi * q[..., 0] / 200)
    return p[..., 0], p[..., 1], p[..., 2]


def _ball(xyz, centre, radius) -> np.ndarray:
    return sum((c - k) ** 2 for c, k in zip(xyz, centre, strict=True)) <= radius**2


def _ct(xyz) -> np.ndarray:
    """Body ellipsoid with a fat rim, an organ, a segmented spine and two asymmetric bones, in HU."""
    x, y, z = xyz
    body = (x / 95) ** 2 + (y / 70) ** 2 + ((z - 120) / 180) ** 2
    hu = np.where(body <= 1, np.where(body > 0.8, -100.0, 40.0), -1000.0)
    hu[((x + 40) / 45) ** 2 + ((y + 10) / 35) ** 2 + ((z - 90) / 60) ** 2 <= 1] = 65.0
    vertebra = ((x / 14) ** 2 + ((y - 45) / 12) ** 2 <= 1) & (np.mod(z, 30) < 22)
    hu[vertebra] = 700.0
    hu[_ball(xyz, (60, 10, 40), 20) | _ball(xyz, (-55, 40, 190), 15)] = 900.0
    hu += 15 * np.sin(x / 7.0) * np.cos(y / 9.0) * np.sin(z / 11.0)
    return hu


def _fine_ct(transform: sitk.Transform | None, deform_mm: float, fine: int = 2) -> np.ndarray:
    """The CT with partial-volume edges: the mean over ``fine**3`` sub-voxels."""
    hu = _ct(_points(transform, deform_mm, fine))
    n = SHAPE[::-1]
    return hu.reshape(n[0], fine, n[1], fine, n[2], fine).mean(axis=(1, 3, 5)).astype(np.int16)


def _labels(xyz, spheres) -> np.ndarray:
    out = np.zeros(xyz[0].shape, np.uint16)
    for label, balls in spheres:
        for *c, r in balls:
            out[_ball(xyz, c, r)] = label
    return out


def _image(array: np.ndarray) -> sitk.Image:
    img = sitk.GetImageFromArray(array)
    img.CopyInformation(_grid())
    return img


@cache
def scan(timepoint: str, deform_mm: float = 1.0) -> tuple[sitk.Image, sitk.Image]:
    """CT and lesion map of one phantom scan."""
    if timepoint == "baseline":
        xyz = _points(None, 0)
        return _image(_fine_ct(None, 0)), _image(_labels(xyz, [(k, [v]) for k, v in BASELINE.items()]))
    moved = true_transform(*MOVES[timepoint])
    xyz = _points(moved, deform_mm)
    return _image(_fine_ct(moved, deform_mm)), _image(_labels(xyz, {"fu1": FU1, "fu2": FU2}[timepoint]))


@cache
def registered(timepoint: str) -> sitk.Transform:
    return register(scan("baseline")[0], scan(timepoint)[0])


def _centroids(labels: sitk.Image) -> dict[int, np.ndarray]:
    table = lesion_table(labels)
    return {int(r.label): np.array([r.centroid_x_mm, r.centroid_y_mm, r.centroid_z_mm]) for r in table.itertuples()}


@pytest.mark.parametrize("timepoint", ["fu1", "fu2"])
def test_registration_recovers_lesion_positions(timepoint):
    base, follow = _centroids(scan("baseline")[1]), _centroids(scan(timepoint)[1])
    same = {"fu1": {2: 3, 7: 4}, "fu2": {2: 6, 3: 4, 7: 8}}[timepoint]  # baseline label -> unchanged follow-up label
    transform = registered(timepoint)
    tre = [np.linalg.norm(np.subtract(transform.TransformPoint(tuple(base[b])), follow[f])) for b, f in same.items()]
    before = [np.linalg.norm(base[b] - follow[f]) for b, f in same.items()]
    assert max(before) > 20  # the scans are really moved
    assert max(tre) < 2.0, tre


def test_affine_stage_stays_close_to_the_truth():
    transform = register(scan("baseline")[0], scan("fu1")[0], Settings(affine=True))
    assert isinstance(transform, sitk.AffineTransform)
    points = np.array([BASELINE[k][:3] for k in BASELINE], float)
    assert displacement_mm(transform, true_transform(*MOVES["fu1"]), points).max() < 3.0


def test_quality_numbers_say_the_registration_helped():
    q = quality(scan("baseline")[0], scan("fu1")[0], registered("fu1"))
    assert q["bone_dice_registered"] > 0.8 > q["bone_dice_unregistered"] + 0.2
    assert q["body_dice_registered"] > 0.98 > q["body_dice_unregistered"]
    assert 0.7 < q["followup_coverage"] < 0.95  # moved by 2-3 cm in each direction
    assert q["mattes_mi"] < 0


def test_lesion_table_values():
    table = lesion_table(scan("baseline")[1])
    assert table["label"].tolist() == list(BASELINE)
    for row in table.itertuples():
        x, y, z, r = BASELINE[row.label]
        assert np.allclose([row.centroid_x_mm, row.centroid_y_mm, row.centroid_z_mm], (x, y, z), atol=0.8)
        assert row.volume_ml == pytest.approx(4 / 3 * np.pi * r**3 / 1000, rel=0.2)
        assert row.volume_ml == pytest.approx(row.voxels * SPACING**3 / 1000)
    found = lesions_of(scan("baseline")[1])
    assert [le.voxels for le in found] == table["voxels"].tolist()
    centroids = _centroids(scan("baseline")[1])
    assert all(np.allclose(le.centroid_mm, centroids[le.label]) for le in found)


def _as_expected(tracks: pd.DataFrame, timepoint: str) -> dict[int, tuple[list[int], str]]:
    rows = tracks[tracks["timepoint"] == timepoint]
    return {int(t): (sorted(int(k) for k in g["lesion"].dropna()), g["status"].iloc[0])
            for t, g in rows.groupby("track")}


@cache
def phantom_tracks() -> pd.DataFrame:
    base = scan("baseline")[1]
    return track_patient(base, [(tp, (scan(tp)[1], registered(tp))) for tp in ("fu1", "fu2")])


@pytest.mark.parametrize("timepoint", ["fu1", "fu2"])
def test_tracks_recover_every_correspondence_and_status(timepoint):
    tracks = phantom_tracks()
    assert _as_expected(tracks, timepoint) == EXPECTED[timepoint]
    base = tracks[tracks["timepoint"] == "baseline"]
    assert base["track"].tolist() == list(range(1, 8)) and base["lesion"].tolist() == list(range(1, 8))


def test_track_rows_layout():
    tracks = phantom_tracks()
    assert tracks.columns.tolist() == ["track", "timepoint", "lesion", "status", "distance_mm", "overlap"]
    assert list(dict.fromkeys(tracks["timepoint"])) == ["baseline", "fu1", "fu2"]
    fu1 = tracks[tracks["timepoint"] == "fu1"].set_index(["track", "lesion"])
    assert len(fu1.loc[6]) == 2  # a split track: one row per fragment
    assert fu1.xs(1, level="lesion").index.tolist() == [4, 5]  # a merged lesion: in the rows of both tracks
    matched = tracks[tracks["status"] == "matched"]
    assert (matched["distance_mm"] < 4).all() and (matched["overlap"] > 0.5).all()
    assert tracks.loc[tracks["status"].isin(["new", "disappeared", "baseline"]), "overlap"].isna().all()


def test_identity_maps_on_the_baseline_grid_are_accepted():
    base = scan("baseline")[1]
    mapped = to_baseline(scan("fu1")[1], base, registered("fu1"))
    tracks = track_patient(base, [("fu1", mapped)])
    assert _as_expected(tracks, "fu1") == EXPECTED["fu1"]


def _sphere_map(spheres: list[tuple[int, tuple[float, float, float, float]]]) -> sitk.Image:
    return _image(_labels(_points(None, 0), [(k, [s]) for k, s in spheres]))


def test_gates_distance_and_overlap():
    base = _sphere_map([(1, (0, 0, 100, 6))])
    near = lesions_of(_sphere_map([(1, (9, 0, 100, 6))]))
    far = lesions_of(_sphere_map([(1, (25, 0, 100, 6))]))
    tracks = dict(enumerate(lesions_of(base), start=1))
    assert match(tracks, near, base)["status"].tolist() == ["matched"]
    assert match(tracks, far, base)["status"].tolist() == ["disappeared", "new"]
    assert match(tracks, far, base, Gates(max_distance_mm=30))["status"].tolist() == ["matched"]
    overlap = match(tracks, near, base)["overlap"].iloc[0]
    assert 0 < overlap < 0.9
    assert match(tracks, near, base, Gates(min_overlap=overlap + 0.01))["status"].tolist() == ["disappeared", "new"]
    assert match(tracks, near, base, Gates(dilate_mm=0))["overlap"].iloc[0] < overlap


def test_assignment_prefers_the_cheaper_pairing():
    base = _sphere_map([(1, (0, 0, 100, 5)), (2, (16, 0, 100, 5))])
    follow = lesions_of(_sphere_map([(7, (10, 0, 100, 5)), (9, (27, 0, 100, 5))]))
    result = match(dict(enumerate(lesions_of(base), start=1)), follow, base, Gates(dilate_mm=0))
    # greedy nearest-first would give track 2 lesion 7 (6 mm) and leave track 1 with lesion 9 out of the gate
    assert result[["track", "lesion", "status"]].values.tolist() == [[1, 7, "matched"], [2, 9, "matched"]]


def test_empty_scans():
    base = _sphere_map([(1, (0, 0, 100, 6))])
    empty = _image(np.zeros(SHAPE[::-1], np.uint16))
    tracks = track_patient(base, [("fu1", empty), ("fu2", base)])
    assert tracks["status"].tolist() == ["baseline", "disappeared", "matched"]
    assert track_patient(empty, [("fu1", base)])[["track", "status"]].values.tolist() == [[1, "new"]]


def test_shared_labels_agreement():
    base = scan("baseline")[1]
    shared = [(tp, to_baseline(scan(tp)[1], base, registered(tp))) for tp in ("fu1", "fu2")]
    relabel = {"fu1": {5: 1, 3: 2, 1: 4, 2: 6, 7: 9, 4: 7, 6: 8}, "fu2": {2: 1, 6: 2, 4: 3, 7: 4, 3: 6, 1: 9, 8: 7,
                                                                             5: 8}}
    maps = []
    for tp, img in shared:  # give each follow-up lesion its baseline label (new ones and fragments: fresh labels)
        arr = sitk.GetArrayFromImage(img)
        out = np.zeros_like(arr)
        for k, v in relabel[tp].items():
            out[arr == k] = v
        maps.append((tp, _image(out)))
    result = shared_labels_agreement(track_patient(base, maps))
    # disagreements by construction: the fragment labelled 9 is "new" by the labels but a split of track 6
    assert result["disagree"] == [["fu1", 9]]
    assert result["lesions"] == 7 + 8 and result["agree"] == 14
    assert result["share"] == pytest.approx(14 / 15)


def test_transform_file_round_trip(tmp_path):
    transform = registered("fu1")
    path = tmp_path / "reg" / "fu1.tfm"
    save_transform(transform, path)
    assert integrity.check(path) is not None
    back = load_transform(path)
    points = np.array([[0, 0, 100], [50, -30, 20], [-70, 40, 200]], float)
    assert np.allclose([back.TransformPoint(tuple(p)) for p in points],
                       [transform.TransformPoint(tuple(p)) for p in points], atol=1e-6)


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "cohort"
    write_cohort(out, n_patients=3, seed=3, size="tiny", pet_share=0.0, n_jobs=1)
    return out


def test_registration_of_a_tiny_synthetic_followup_whose_bone_moments_mislead(tiny_cohort):
    """P003 fu1 of the tiny cohort (8 mm slices, 23.6 mm along z, 2-3 degrees, the field cutting other bones): the
    bone moments start ~20 mm off; the registration must still land within 3 mm of the true map (breathing included)
    at the baseline lesions and across the body."""
    truth = json.loads((tiny_cohort / "truth.json").read_text())["patients"]["P003"]["timepoints"]
    record = truth["fu1"]["transform"]
    d = record["deformation"]
    pose = Pose(tuple(record["rotation_deg"]), tuple(record["translation_mm"]), tuple(record["centre_mm"]),
                tuple(d["peak_yz_mm"]), d["at_z_mm"])
    base, follow = (sitk.ReadImage(str(tiny_cohort / "images" / "P003" / tp / "ct.nii.gz")) for tp in ("baseline",
                                                                                                    "fu1"))
    size = np.array(base.GetSize()) - 1
    points = [base.TransformContinuousIndexToPhysicalPoint(tuple(map(float, f * size))) for f in
              (np.array([0.5, 0.5, 0.5]), np.array([0.3, 0.5, 0.25]), np.array([0.7, 0.6, 0.75]))]
    points += [tuple(le["centre_mm"]) for le in truth["baseline"]["lesions"].values()]
    transform = register(base, follow)
    tre = [np.linalg.norm(np.subtract(transform.TransformPoint(p), pose.to_scan(np.array(p)))) for p in points]
    assert max(tre) < 3.0, tre
    assert np.linalg.norm(record["translation_mm"]) > 20  # the case is really moved
    q = quality(base, follow, transform)
    assert q["body_dice_registered"] > 0.98 > 0.95 > q["body_dice_unregistered"], q
    assert q["bone_dice_registered"] > 0.8 > 0.65 > q["bone_dice_unregistered"], q


def test_a_lesion_the_scan_range_cuts_has_no_diameters_in_the_tracks(tmp_path):
    from wbrad.tracking.run import PatientScans, _values

    table = pd.DataFrame({"lesion": [1, 2], "status": ["ok", "truncated"], "site": ["liver", "lung"],
                          "volume_ml": [2.0, 1.5], "long_axis_mm": [20.0, 18.0], "short_axis_mm": [15.0, np.nan]})
    table.to_csv(tmp_path / "ct.tsv", sep="\t", index=False)
    values = _values(PatientScans("P1", {"baseline": 0}, {}, {"baseline": tmp_path / "ct.tsv"}, {}))
    assert values["long_axis_mm"].tolist()[0] == 20.0 and values.loc[1, ["long_axis_mm", "short_axis_mm"]].isna().all()
    assert values["volume_ml"].tolist() == [2.0, 1.5]  # the visible volume stays


def test_the_tracking_picture_shows_the_baseline_and_every_registered_followup(tmp_path):
    from PIL import Image

    from wbrad.tracking.qc import COLUMNS, draw_tracking

    files: dict[str, dict[str, Path]] = {"cts": {}, "maps": {}, "transforms": {}}
    for tp in ("baseline", "fu1", "fu2"):
        ct, labels = scan(tp)
        for kind, image in (("cts", ct), ("maps", labels)):
            files[kind][tp] = tmp_path / f"{tp}_{kind}.nii.gz"
            sitk.WriteImage(image, str(files[kind][tp]))
        if tp != "baseline":
            files["transforms"][tp] = tmp_path / f"{tp}.tfm"
            save_transform(registered(tp), files["transforms"][tp])
    tracks = phantom_tracks().assign(patient_id="P1")
    draw_tracking(**files, tracks=tracks, out_png=tmp_path / "three.png")
    with Image.open(tmp_path / "three.png") as png:
        assert png.width == 3 * 400  # one panel per timepoint, 4 inches at 100 dpi each
        three = png.height
        pixels = np.asarray(png.convert("RGB")).astype(int)
    gold = (pixels[..., 0] > 200) & (pixels[..., 1] > 170) & (pixels[..., 2] < 60)
    assert gold[:, 400:].sum() > 20 and gold[:, :400].sum() == 0  # new lesions only in the follow-ups' panels
    assert integrity.find_record(tmp_path / "three.png") is not None  # written with its integrity record
    many = {kind: {f"fu{k}" if k else "baseline": files[kind][tp] for k, tp in enumerate(["baseline"] + ["fu1"] * 5)}
            for kind in ("cts", "maps")}
    many["transforms"] = {f"fu{k}": files["transforms"]["fu1"] for k in range(1, 6)}
    draw_tracking(**many, tracks=tracks, out_png=tmp_path / "six.png")
    with Image.open(tmp_path / "six.png") as png:
        assert (png.width, png.height) == (COLUMNS * 400, 2 * three)  # six panels wrap after COLUMNS
