"""Write a synthetic cohort: registry.csv, manifest.tsv, images/<pid>/<tp>/..., truth.json."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from joblib import Parallel, delayed
from scipy import ndimage

from wbrad.io import write_json, write_tsv
from wbrad.synth.dicom import Identity, Study, invent_identity, write_scan
from wbrad.synth.followup import (
    Events,
    Mark,
    Pose,
    axial_diameters,
    contour_in_scan,
    draw_pose,
    finer,
    gap_mm,
    half_centre,
    paint_bridge,
    paint_split,
    plan_events,
    resample,
    sampling,
    split_owner,
)
from wbrad.synth.grid import SIZES, Grid, SynthSize
from wbrad.synth.lesions import MIN_SEGMENTED_VOXELS, Lesion, place_lesions, render_lesions, site_masks
from wbrad.synth.pet import (
    Physiology,
    bladder_avoid,
    burden_truth,
    draw_physiology,
    pet_noise,
    render_pet,
    suvmax_per_lesion,
)
from wbrad.synth.phantom import CORTICAL_HU, VERTEBRA_INDEX, Tissue, hu_table, layout, paint_bladder, render_labels
from wbrad.synth.registry import CENTRE, COEFFICIENTS, WEIBULL, Patient, draw_patients, oracle_cindex, registry_table
from wbrad.synth.scanner import PROFILES, REFERENCE, ScannerProfile, assign_scanners
from wbrad.synth.segmentation import write_segmentation

MANIFEST_COLUMNS = ["patient_id", "timepoint", "scan_date", "modality", "image", "lesions", "segmentation", "scanner"]


def _write(image: sitk.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True, 1)


def _ct(labels: np.ndarray, cortical: np.ndarray, ctx: Context, timepoint: str,
        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CT in HU (int16) and the lesion label map at one timepoint."""
    hu = hu_table(ctx.patient.anatomy)[labels]
    hu[cortical] = CORTICAL_HU
    lesion_map = render_lesions(ctx.patient.lesions, timepoint, ctx.grid, hu, rng)
    return _noisy(hu, ctx, rng), lesion_map


def _noisy(hu: np.ndarray, ctx: Context, rng: np.random.Generator) -> np.ndarray:
    """The CT as the patient's scanner reconstructs it (blur, then noise of the patient's sd; ``synth.scanner``)."""
    return ctx.scanner.render(hu, ctx.grid.spacing_mm, ctx.patient.anatomy.noise_hu, rng)


@dataclass
class Scan:
    """One rendered timepoint on the CT (and PET) grid: images, the masks written (scan label -> Mark) and the pose
    (None: the body lies as at baseline)."""

    ct: np.ndarray
    lab: np.ndarray
    lesion_map: np.ndarray
    pet: np.ndarray | None
    owner: np.ndarray | None
    marks: dict[int, Mark]
    pose: Pose | None = None


@dataclass
class Context:
    """What every scan of one patient is rendered from."""

    patient: Patient
    grid: Grid
    pet_grid: Grid
    lays: dict
    physiology: Physiology | None
    events: Events = field(default_factory=Events)
    poses: np.random.Generator | None = None  # None: the aligned cohort
    scanner: ScannerProfile = REFERENCE

    @property
    def order(self) -> list[str]:
        return list(self.patient.timepoints)


def _aligned_scan(ctx: Context, tp: str, lab: np.ndarray, cortical: np.ndarray, rng: np.random.Generator) -> Scan:
    """A scan as the aligned cohort has it: unmoved, each lesion labelled by its own (baseline) label."""
    ct, lesion_map = _ct(lab, cortical, ctx, tp, rng)
    pet, owner = (render_pet(ctx.lays[tp], ctx.patient.lesions, tp, ctx.pet_grid, rng, ctx.physiology)
                  if ctx.physiology else (None, None))
    marks = {le.label: Mark((le,), (le.label,)) for le in ctx.patient.lesions if tp in le.scale}
    return Scan(ct, lab, lesion_map, pet, owner, marks)


def _body_marks(ctx: Context, tp: str, fragment: int) -> list[Mark]:
    """The masks a reader draws at a follow-up, in body-frame labels: merged pairs in one, split lesions in two."""
    present = {le.label: le for le in ctx.patient.lesions if tp in le.scale}
    merged = ctx.events.merged if ctx.events.active("merged", tp, ctx.order) else None
    if merged and not set(merged) <= set(present):
        merged = None
    split = ctx.events.split if ctx.events.active("split", tp, ctx.order) else None
    marks = []
    for label, lesion in present.items():
        if merged and label == merged[1]:
            continue
        if merged and label == merged[0]:
            marks.append(Mark((lesion, present[merged[1]]), merged))
        elif label == split:
            marks += [Mark((lesion,), (label,), -1), Mark((lesion,), (fragment,), 1)]
        else:
            marks.append(Mark((lesion,), (label,)))
    return marks


def _number(marks: list[Mark], counts: np.ndarray, rng: np.random.Generator) -> dict[int, Mark]:
    """Scan labels 1..n in random order for the masks big enough to be segmented; redrawn (a few times) while every
    mask would carry its lesion's baseline label, so that labels do differ between scans."""
    kept = [m for m in marks if sum(int(counts[b]) for b in m.body if b < len(counts)) >= MIN_SEGMENTED_VOXELS]
    order = rng.permutation(len(kept)) + 1
    for _ in range(10):
        if len(kept) < 2 or any(m.lesions[0].label != k for m, k in zip(kept, order, strict=True)):
            break
        order = rng.permutation(len(kept)) + 1
    return {int(k): m for m, k in zip(kept, order, strict=True)}


def _lookup(marks: dict[int, Mark], top: int) -> np.ndarray:
    """Body-frame label -> scan label (0 for what is not written)."""
    lut = np.zeros(top + 1, np.uint16)
    for label, mark in marks.items():
        lut[list(mark.body)] = label
    return lut


PET_SUPERSAMPLING = (2, 2, 1)  # x, y, z: how much finer than the PET a moved PET's body frame is rendered


def _moved_scan(ctx: Context, tp: str, lab: np.ndarray, cortical: np.ndarray, rng: np.random.Generator,
                label_rng: np.random.Generator) -> Scan:
    """A repositioned follow-up: its body frame rendered on the scan's grid, sampled through a drawn pose at the
    scan's voxel centres (labels nearest, HU by ``_sampled_hu``), noise added after, masks renumbered."""
    patient, grid = ctx.patient, ctx.grid
    pose = draw_pose(ctx.poses, grid, ctx.lays[tp].diaphragm_z)
    hu = hu_table(patient.anatomy)[lab]
    hu[cortical] = CORTICAL_HU
    tissue = hu.copy()
    body_map = render_lesions(patient.lesions, tp, grid, hu, rng)
    fragment = max(le.label for le in patient.lesions) + 1
    marks = _body_marks(ctx, tp, fragment)
    _paint_events(marks, tp, grid, body_map, hu, tissue, fragment)
    coords = sampling(pose, grid)
    moved_map, moved_hu = _contoured(body_map, hu, tissue, marks, tp, pose, grid, coords)
    ct = _noisy(moved_hu, ctx, rng)
    numbered = _number(marks, np.bincount(moved_map.ravel()), label_rng)
    lut = _lookup(numbered, fragment)
    scan = Scan(ct, resample(lab, coords, False), lut[moved_map], None, None, numbered, pose)
    if ctx.physiology:
        scan.pet, owner = _moved_pet(ctx, tp, pose, marks, fragment, rng)
        scan.owner = lut[owner]
    return scan


def _contoured(body_map: np.ndarray, hu: np.ndarray, tissue: np.ndarray, marks, tp: str, pose: Pose, grid: Grid,
               coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The moved lesion map and HU: sampled through the pose, each whole lesion's mask then drawn in the scan frame
    (:func:`wbrad.synth.followup.contour_in_scan`; merged and split masks keep the sampled outline)."""
    moved_map, moved_hu = resample(body_map, coords, False), _sampled_hu(hu, coords)
    whole = {mark.body[0]: mark.lesions[0] for mark in marks if len(mark.lesions) == 1 and not mark.half}
    contour_in_scan(moved_map, moved_hu, _sampled_hu(tissue, coords), whole, tp, pose, grid)
    return moved_map, moved_hu


BONE_HU = 150.0  # sampled linearly at and next to bone; soft tissue nearest, so that it keeps its HU window


def _sampled_hu(hu: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """The moved CT: bone and its edges interpolated linearly (smooth, as registration sees bone), soft tissue taken
    from the nearest body voxel, so that a voxel the segmentation calls muscle or fat has that tissue's HU (the L3
    truth is the analytic area of the tissue, with no partial-volume loss at the HU windows)."""
    linear, nearest = resample(hu, coords, True), resample(hu, coords, False)
    return np.where((linear >= BONE_HU) | (nearest >= BONE_HU), linear, nearest)


def _moved_pet(ctx: Context, tp: str, pose: Pose, marks: list[Mark], fragment: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A moved scan's PET and lesion owner map: rendered in the body frame on a grid ``PET_SUPERSAMPLING`` times finer
    (the organs' blur kept in mm), then sampled nearest at the scan's voxel centres, so that a lesion's peak and the
    voxels it owns lie within a quarter PET voxel of where the scan's CT lesion mask puts them."""
    fine = finer(ctx.pet_grid, PET_SUPERSAMPLING)
    suv, owner = render_pet(ctx.lays[tp], ctx.patient.lesions, tp, fine, rng, ctx.physiology, noise=False,
                            blur_voxels=tuple(0.8 * k for k in PET_SUPERSAMPLING[::-1]))
    for mark in marks:
        if mark.half > 0:
            split_owner(mark.lesions[0], mark.lesions[0].scale[tp], fine, owner, fragment)
    coords = sampling(pose, ctx.pet_grid, fine)
    return pet_noise(resample(suv, coords, False), rng), resample(owner, coords, False)


def _paint_events(marks: list[Mark], tp: str, grid: Grid, body_map: np.ndarray, hu: np.ndarray, tissue: np.ndarray,
                  fragment: int) -> None:
    """Paint the bridge of a merged pair and the gap of a split lesion into the body-frame label map and HU."""
    for mark in marks:
        if len(mark.lesions) == 2:
            paint_bridge(*mark.lesions, tp, grid, body_map, hu)
        elif mark.half > 0:
            lesion = mark.lesions[0]
            paint_split(lesion, lesion.scale[tp], grid, body_map, hu, tissue, fragment)


def write_patient(out: Path, patient: Patient, size: SynthSize, seed: int, index: int, dicom: bool = False,
                  aligned: bool = False, scanner: ScannerProfile = REFERENCE,
                  retest: bool = False) -> tuple[dict, list[dict], list[dict]]:
    """Render and write one patient's scans; return its truth record, manifest rows and DICOM manifest rows.

    With ``dicom`` each scan is also exported as DICOM under an invented identity (see :mod:`wbrad.synth.dicom`).
    Unless ``aligned``, follow-ups are repositioned and relabelled (:mod:`wbrad.synth.followup`), drawing from the
    patient's streams 7 (poses) and 8 (events, labels), so the aligned cohort's images do not change. Every CT is
    reconstructed as ``scanner`` does it (:mod:`wbrad.synth.scanner`). With ``retest``, a CT ``retest`` timepoint
    follows (``_retest_scan``; streams 11 and 12).
    """
    grid, pet_grid = size.ct_grid(), size.pet_grid()
    rng = np.random.default_rng([seed, index, 4])
    lays = {tp: layout(patient.anatomy, m) for tp, m in patient.muscle_scale.items()}
    labels = {tp: render_labels(lay, grid) for tp, lay in lays.items()}
    patient.lesions = place_lesions(rng, patient.lesions, site_masks([lab for lab, _ in labels.values()], grid), grid)
    for tp, (lab, _) in labels.items():
        paint_bladder(lab, lays[tp], grid, bladder_avoid(patient.lesions))
    physiology = draw_physiology(np.random.default_rng([seed, index, 6])) if patient.pet else None
    ctx = Context(patient, grid, pet_grid, lays, physiology, scanner=scanner)
    label_rng = np.random.default_rng([seed, index, 8])
    if not aligned:
        ctx.poses = np.random.default_rng([seed, index, 7])
        ctx.events = plan_events(label_rng, patient.lesions, ctx.order[1:], grid)
    record = {"linear_predictor": patient.linear_predictor, "latent": patient.latent, "pet": patient.pet,
              "scanner": scanner.as_dict(), "timepoints": {}}
    if physiology:
        record["physiology"] = physiology.as_dict()
    writer = _Writer(out, ctx, _identity(patient, seed, index) if dicom else None)
    if writer.identity:
        record["dicom_identity"] = writer.identity.__dict__
    tracker = Identities()
    texture = copy.deepcopy(rng)  # as it stands before the baseline's lesions are rendered (a retest's texture)
    for tp, (lab, cortical) in labels.items():
        moved = ctx.poses is not None and tp != "baseline"
        scan = (_moved_scan(ctx, tp, lab, cortical, rng, label_rng) if moved
                else _aligned_scan(ctx, tp, lab, cortical, rng))
        record["timepoints"][tp] = writer.write(tp, scan, tracker)
    record["disappeared"] = tracker.disappeared
    if retest:
        scan = _retest_scan(ctx, *labels["baseline"], texture, seed, index)
        record["timepoints"][RETEST] = writer.write(RETEST, scan, Identities(
            tracker.baseline, {str(k) for k in tracker.baseline}))
    if ctx.events.since:
        record["events"] = ctx.events.since
    return record, writer.rows, writer.dicom_rows


def _identity(patient: Patient, seed: int, index: int) -> Identity:
    clin = patient.clinical
    return invent_identity(np.random.default_rng([seed, index, 5]), clin["sex"], clin["age"], clin["therapy_start"],
                           clin["weight_kg"], clin["height_cm"])


@dataclass
class _Writer:
    """Writes a patient's scans (NIfTI, and DICOM with an identity) and collects their manifest rows."""

    out: Path
    ctx: Context
    identity: Identity | None
    rows: list[dict] = field(default_factory=list)
    dicom_rows: list[dict] = field(default_factory=list)

    def write(self, tp: str, scan: Scan, tracker: Identities) -> dict:
        """Write one scan; return its truth."""
        patient, grid = self.ctx.patient, self.ctx.grid
        folder = Path("images") / patient.pid / tp
        date = (patient.clinical["therapy_start"] + dt.timedelta(days=patient.timepoints[tp])).isoformat()
        scan_rows, suvmax, burden = _write_scan(self.out, folder, patient, tp, date, scan, self.ctx)
        self.rows += scan_rows
        if self.identity:
            study = Study.new(self.identity, dt.date.fromisoformat(date))
            self.dicom_rows += _export_dicom(self.out, folder, study, scan_rows[0], scan, self.ctx)
        return _scan_truth(patient, tp, scan, suvmax, grid, burden, tracker)


RETEST = "retest"
RETEST_SCALE = 0.2  # a same-day rescan's pose: the follow-ups' ranges (followup.draw_pose) times this


def _retest_scan(ctx: Context, lab: np.ndarray, cortical: np.ndarray, texture: np.random.Generator, seed: int,
                 index: int) -> Scan:
    """A CT rescan on the baseline's day (the RIDER design: Zhao et al., Radiology 2009): the body and every lesion
    as at baseline, lesion texture included (``texture`` draws the baseline's), the patient repositioned slightly
    (stream 11), new noise from the same scanner (stream 12), each lesion labelled as at baseline. Registers the
    timepoint with the patient and its lesions (day, muscle, sizes of the baseline) for the truth."""
    patient, grid = ctx.patient, ctx.grid
    patient.timepoints[RETEST] = patient.timepoints["baseline"]
    patient.muscle_scale[RETEST] = patient.muscle_scale["baseline"]
    for lesion in patient.lesions:
        if "baseline" in lesion.scale:
            lesion.scale[RETEST] = lesion.scale["baseline"]
    drawn = draw_pose(np.random.default_rng([seed, index, 11]), grid, ctx.lays["baseline"].diaphragm_z)
    pose = replace(drawn, **{key: tuple(RETEST_SCALE * v for v in getattr(drawn, key))
                             for key in ("rotation_deg", "translation_mm", "breath_mm")})
    hu = hu_table(patient.anatomy)[lab]
    hu[cortical] = CORTICAL_HU
    tissue = hu.copy()
    body_map = render_lesions(patient.lesions, "baseline", grid, hu, texture)
    coords = sampling(pose, grid)
    marks = {le.label: Mark((le,), (le.label,)) for le in patient.lesions if RETEST in le.scale}
    moved_map, moved_hu = _contoured(body_map, hu, tissue, marks.values(), RETEST, pose, grid, coords)
    ct = _noisy(moved_hu, ctx, np.random.default_rng([seed, index, 12]))
    return Scan(ct, resample(lab, coords, False), moved_map, None, None, marks, pose)


def _write_scan(out: Path, folder: Path, patient: Patient, tp: str, date: str, scan: Scan,
                ctx: Context) -> tuple[list[dict], dict, tuple | None]:
    """Write one scan's NIfTI files; return its manifest rows, SUVmax per label and the burden truth."""
    grid = ctx.grid
    _write(grid.image(scan.ct), out / folder / "ct.nii.gz")
    lesion_img = grid.image(scan.lesion_map)
    _write(lesion_img, out / folder / "lesions.nii.gz")
    write_segmentation(out / folder / "seg", scan.lab, scan.lesion_map, grid, _write)
    rows = [{"patient_id": patient.pid, "timepoint": tp, "scan_date": date, "modality": "CT",
             "image": str(folder / "ct.nii.gz"), "lesions": str(folder / "lesions.nii.gz"),
             "segmentation": str(folder / "seg"), "scanner": ctx.scanner.name}]
    if scan.pet is None:
        return rows, {}, None
    pet = ctx.pet_grid.image(scan.pet)
    _write(pet, out / folder / "pet.nii.gz")
    rows.append({**rows[0], "modality": "PT", "image": str(folder / "pet.nii.gz"), "lesions": "", "segmentation": "",
                 "scanner": ""})  # the profile is the CT's
    return rows, suvmax_per_lesion(pet, lesion_img), burden_truth(scan.pet, scan.owner, ctx.pet_grid.voxel_mm3 / 1000)


def _export_dicom(out: Path, folder: Path, study: Study, ct_row: dict, scan: Scan, ctx: Context) -> list[dict]:
    """Write one timepoint as DICOM under ``folder/dicom``; return its manifest rows (CT, and PT with a PET).

    The RTSTRUCT numbers its ROIs by the scan's own labels, so repositioned follow-ups have their own numbering; the
    CT series names the patient's scanner."""
    grid, pet_grid = ctx.grid, ctx.pet_grid
    paths = write_scan(out / folder / "dicom", study, (scan.ct, grid.spacing_mm, grid.origin_mm), scan.lesion_map,
                       None if scan.pet is None else (scan.pet, pet_grid.spacing_mm, pet_grid.origin_mm),
                       scanner=ctx.scanner.dicom())
    relative = {key: str(path.relative_to(out)) for key, path in paths.items()}
    rows = [{**ct_row, "image": relative["ct"], "lesions": relative["rtstruct"]}]
    if "pet" in relative:
        rows.append({**ct_row, "modality": "PT", "image": relative["pet"], "lesions": "", "segmentation": ""})
    return rows


@dataclass
class Identities:
    """Lesion identities over a patient's scans: a lesion's baseline label, or ``new:<k>`` for one not segmented at
    baseline; ``disappeared`` lists per follow-up the identities seen at an earlier scan and absent from this one."""

    baseline: set[int] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    disappeared: dict[str, list[str]] = field(default_factory=dict)

    def of(self, lesion: Lesion) -> str:
        return str(lesion.label) if lesion.label in self.baseline else f"new:{lesion.label}"

    def event(self, mark: Mark, tp: str) -> str:
        """``baseline`` at baseline, else ``merged``, ``split``, ``new`` (first seen) or ``matched``."""
        if tp == "baseline":
            return "baseline"
        if len(mark.lesions) > 1:
            return "merged"
        return "split" if mark.half else "matched" if self.of(mark.lesions[0]) in self.seen else "new"

    def close(self, tp: str, present: set[str]) -> None:
        if tp != "baseline":
            self.disappeared[tp] = sorted(self.seen - present)
        self.seen |= present


def _mark_geometry(mark: Mark, tp: str, pose: Pose | None, grid: Grid) -> dict:
    """True centre (scan frame) and RECIST axes of each lesion (or fragment) of a mark; lists for a merged mark."""
    matrix = np.eye(3) if pose is None else pose.matrix
    centres, long, short = [], [], []
    for lesion in mark.lesions:
        scale = lesion.scale[tp]
        centre = half_centre(lesion, scale, mark.half) if mark.half else np.asarray(lesion.centre_mm)
        centres.append([round(float(c), 3) for c in (centre if pose is None else pose.to_scan(centre))])
        axes = axial_diameters(lesion, scale, matrix, mark.half, gap_mm(grid))
        long.append(round(axes[0], 3))
        short.append(round(axes[1], 3))
    if len(mark.lesions) == 1:
        return {"centre_mm": centres[0], "long_axis_mm": long[0], "short_axis_mm": short[0]}
    return {"centre_mm": centres, "long_axis_mm": long, "short_axis_mm": short}


def _lesion_truth(mark: Mark, tp: str, voxels: int, scan: Scan, grid: Grid, tracker: Identities) -> dict:
    lesion = mark.lesions[0]
    volume = sum(le.volume_mm3(tp) for le in mark.lesions) / (2 if mark.half else 1)
    out = {"site": lesion.site, "voxel_volume_mm3": float(voxels) * grid.voxel_mm3, "ellipsoid_volume_mm3": volume,
           "lesion_id": tracker.of(lesion), "event": tracker.event(mark, tp)}
    if len(mark.lesions) > 1:
        out["merged_ids"] = [tracker.of(le) for le in mark.lesions]
    return {**out, **_mark_geometry(mark, tp, scan.pose, grid)}


def touching_border(lesion_map: np.ndarray) -> set[int]:
    """The labels whose mask touches a face of the image: the lesion stage's ``truncated`` rule (its bounding box
    starts at index 0 or ends at the last index of an axis; ``wbrad.lesions.extract.crop_lesions``)."""
    boxes = ndimage.find_objects(lesion_map)
    return {k for k, box in enumerate(boxes, 1) if box is not None and any(
        s.start == 0 or s.stop == n for s, n in zip(box, lesion_map.shape, strict=True))}


def _scan_truth(patient: Patient, tp: str, scan: Scan, suvmax: dict, grid: Grid, burden: tuple | None,
                tracker: Identities) -> dict:
    """One scan's truth, its lesions keyed by the scan's own labels (``truncated``: the mask touches the image border,
    so the lesion may go on beyond the scan's range); with a PET, each lesion's ``burden_ml`` (its PET
    voxels with SUV >= 4) and the scan's true ``burden`` (``synth.pet.burden_truth``). A moved scan's ``l3_sma_cm2``
    is the muscle's area in the scan's axial plane (the body axis tilted by the pose's rotation)."""
    l3 = np.flatnonzero((scan.lab == Tissue.VERTEBRA + VERTEBRA_INDEX["vertebrae_L3"]).any(axis=(1, 2)))
    tilt = 1.0 if scan.pose is None else abs(float(scan.pose.matrix[2, 2]))
    sma = patient.anatomy.l3_muscle_area_mm2(patient.muscle_scale[tp]) / 100 / tilt
    counts = np.bincount(scan.lesion_map.ravel(), minlength=1)
    cut = touching_border(scan.lesion_map)
    volumes = burden[0] if burden else {}
    if tp == "baseline":
        tracker.baseline = {k for k in scan.marks if k < len(counts) and counts[k] > 0}
    lesions = {}
    for label, mark in sorted(scan.marks.items()):
        if label < len(counts) and counts[label] > 0:
            lesions[str(label)] = {**_lesion_truth(mark, tp, int(counts[label]), scan, grid, tracker),
                                   "truncated": label in cut, "suvmax": suvmax.get(label),
                                   "burden_ml": volumes.get(label, 0.0) if burden else None}
    tracker.close(tp, {le["lesion_id"] for le in lesions.values()} | {
        i for le in lesions.values() for i in le.get("merged_ids", [])})
    pose = {"transform": scan.pose.as_dict()} if scan.pose else {}
    return {"scan_day": patient.timepoints[tp], "l3_slice": int((l3.min() + l3.max()) // 2), "l3_sma_cm2": sma,
            "l3_smi_cm2m2": sma / (patient.clinical["height_cm"] / 100) ** 2,
            "muscle_scale": patient.muscle_scale[tp], "lesions": lesions, **pose,
            **({"burden": burden[1]} if burden else {})}


def write_cohort(out: Path, n_patients: int = 40, seed: int = 0, size: str = "demo", pet_share: float = 1 / 3,
                 n_jobs: int = 2, dicom: bool = False, aligned: bool = False, scanners: int = len(PROFILES),
                 retest: int = 0) -> Path:
    """Write registry.csv, manifest.tsv, images/<pid>/<tp>/..., truth.json under `out`; return the manifest path.

    By default follow-ups are as a registry has them: the patient repositioned, lesions labelled independently per
    scan (``truth.json`` maps each label to its ``lesion_id``), a few lesions merged or split. ``aligned`` writes the
    cohort of shared labels and unmoved follow-ups instead (``truth["lesion_labels"]`` says which).

    With ``dicom``, every scan is also written as a DICOM export (``images/<pid>/<tp>/dicom/``) listed in
    ``manifest_dicom.tsv``; ``truth.json`` then holds each patient's invented ``dicom_identity``.

    Each patient is scanned on one of ``scanners`` CT scanner profiles (:mod:`wbrad.synth.scanner`; the manifest's
    ``scanner``, ``truth["patients"][pid]["scanner"]``, the DICOM Manufacturer, ManufacturerModelName and
    ConvolutionKernel); the aligned cohort has profile A only, so its images stay as before profiles existed.
    ``retest`` patients, drawn at random, also get a CT ``retest`` timepoint on the baseline's day (``_retest_scan``).

    Patients are rendered in ``n_jobs`` processes; each has its own random streams, so the output does not depend
    on ``n_jobs``.
    """
    if size not in SIZES:
        raise ValueError(f"unknown synthetic size {size!r}; choose one of {sorted(SIZES)}")
    out = Path(out)
    patients = draw_patients(n_patients, seed, pet_share)
    profiles = assign_scanners(n_patients, seed, 1 if aligned else scanners)
    retested = set(np.random.default_rng([seed, 10**6 + 2]).permutation(n_patients)[:retest].tolist())
    truth = {"seed": seed, "size": size, "coefficients": COEFFICIENTS, "centre": CENTRE,
             "weibull_shape_median_days": WEIBULL, "oracle_cindex": oracle_cindex(patients),
             "lesion_labels": "shared" if aligned else "independent", "patients": {}}
    written = Parallel(n_jobs=n_jobs)(delayed(write_patient)(out, patient, SIZES[size], seed, index, dicom, aligned,
                                                             profiles[index], index in retested)
                                      for index, patient in enumerate(patients))
    rows, dicom_rows = [], []
    for patient, (record, patient_rows, patient_dicom_rows) in zip(patients, written, strict=True):
        truth["patients"][patient.pid] = record
        rows += patient_rows
        dicom_rows += patient_dicom_rows
    registry = registry_table(patients)
    out.mkdir(parents=True, exist_ok=True)
    registry.to_csv(out / "registry.csv", index=False)
    write_tsv(pd.DataFrame(rows, columns=MANIFEST_COLUMNS), out / "manifest.tsv")
    if dicom:
        write_tsv(pd.DataFrame(dicom_rows, columns=MANIFEST_COLUMNS), out / "manifest_dicom.tsv")
    write_json(truth, out / "truth.json")
    return out / "manifest.tsv"
