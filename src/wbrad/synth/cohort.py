"""Write a synthetic cohort: registry.csv, manifest.tsv, images/<pid>/<tp>/..., truth.json."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from joblib import Parallel, delayed
from scipy import ndimage

from wbrad.io import write_json, write_tsv
from wbrad.synth.dicom import Study, invent_identity, write_scan
from wbrad.synth.grid import SIZES, Grid, SynthSize
from wbrad.synth.lesions import place_lesions, render_lesions, site_masks
from wbrad.synth.pet import bladder_avoid, burden_truth, draw_physiology, render_pet, suvmax_per_lesion
from wbrad.synth.phantom import CORTICAL_HU, VERTEBRA_INDEX, Tissue, hu_table, layout, paint_bladder, render_labels
from wbrad.synth.registry import CENTRE, COEFFICIENTS, WEIBULL, Patient, draw_patients, oracle_cindex, registry_table
from wbrad.synth.segmentation import write_segmentation

MANIFEST_COLUMNS = ["patient_id", "timepoint", "scan_date", "modality", "image", "lesions", "segmentation"]


def _write(image: sitk.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True, 1)


def _ct(labels: np.ndarray, cortical: np.ndarray, patient: Patient, timepoint: str, grid: Grid,
        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CT in HU (int16) and the lesion label map at one timepoint."""
    hu = hu_table(patient.anatomy)[labels]
    hu[cortical] = CORTICAL_HU
    lesion_map = render_lesions(patient.lesions, timepoint, grid, hu, rng)
    noise = ndimage.gaussian_filter(rng.normal(0, 1, hu.shape).astype(np.float32), (0, 0.6, 0.6))
    hu += noise * (patient.anatomy.noise_hu / noise.std())
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16), lesion_map


def write_patient(out: Path, patient: Patient, size: SynthSize, seed: int, index: int,
                  dicom: bool = False) -> tuple[dict, list[dict], list[dict]]:
    """Render and write one patient's scans; return its truth record, manifest rows and DICOM manifest rows.

    With ``dicom`` each scan is also exported as DICOM under an invented identity (see :mod:`wbrad.synth.dicom`).
    """
    grid, pet_grid = size.ct_grid(), size.pet_grid()
    rng = np.random.default_rng([seed, index, 4])
    lays = {tp: layout(patient.anatomy, m) for tp, m in patient.muscle_scale.items()}
    labels = {tp: render_labels(lay, grid) for tp, lay in lays.items()}
    patient.lesions = place_lesions(rng, patient.lesions, site_masks([lab for lab, _ in labels.values()], grid), grid)
    for tp, (lab, _) in labels.items():
        paint_bladder(lab, lays[tp], grid, bladder_avoid(patient.lesions))
    height_m2 = (patient.clinical["height_cm"] / 100) ** 2
    start: dt.date = patient.clinical["therapy_start"]
    record = {"linear_predictor": patient.linear_predictor, "latent": patient.latent, "pet": patient.pet,
              "timepoints": {}}
    physiology = draw_physiology(np.random.default_rng([seed, index, 6])) if patient.pet else None
    if physiology:
        record["physiology"] = physiology.as_dict()
    rows, dicom_rows = [], []
    clin = patient.clinical
    identity = invent_identity(np.random.default_rng([seed, index, 5]), clin["sex"], clin["age"], start,
                               clin["weight_kg"], clin["height_cm"]) if dicom else None
    if identity:
        record["dicom_identity"] = identity.__dict__
    for tp, (lab, cortical) in labels.items():
        folder = Path("images") / patient.pid / tp
        ct, lesion_map = _ct(lab, cortical, patient, tp, grid, rng)
        _write(grid.image(ct), out / folder / "ct.nii.gz")
        lesion_img = grid.image(lesion_map)
        _write(lesion_img, out / folder / "lesions.nii.gz")
        write_segmentation(out / folder / "seg", lab, lesion_map, grid, _write)
        date = (start + dt.timedelta(days=patient.timepoints[tp])).isoformat()
        rows.append({"patient_id": patient.pid, "timepoint": tp, "scan_date": date, "modality": "CT",
                     "image": str(folder / "ct.nii.gz"), "lesions": str(folder / "lesions.nii.gz"),
                     "segmentation": str(folder / "seg")})
        suvmax: dict[int, float | None] = {}
        burden: tuple[dict[int, float], dict[str, float]] | None = None
        pet_arr, owner = (render_pet(lays[tp], patient.lesions, tp, pet_grid, rng, physiology) if physiology
                          else (None, None))
        if identity:
            dicom_rows += _export_dicom(out, folder, Study.new(identity, dt.date.fromisoformat(date)), rows[-1], ct,
                                        lesion_map, grid, pet_arr, pet_grid)
        if patient.pet:
            pet = pet_grid.image(pet_arr)
            _write(pet, out / folder / "pet.nii.gz")
            suvmax = suvmax_per_lesion(pet, lesion_img)
            burden = burden_truth(pet_arr, owner, pet_grid.voxel_mm3 / 1000)
            rows.append({"patient_id": patient.pid, "timepoint": tp, "scan_date": date, "modality": "PT",
                         "image": str(folder / "pet.nii.gz"), "lesions": "", "segmentation": ""})
        record["timepoints"][tp] = _scan_truth(patient, tp, lab, lesion_map, suvmax, grid, height_m2, burden)
    return record, rows, dicom_rows


def _export_dicom(out: Path, folder: Path, study: Study, ct_row: dict, ct: np.ndarray, lesion_map: np.ndarray,
                  grid: Grid, pet: np.ndarray | None, pet_grid: Grid) -> list[dict]:
    """Write one timepoint as DICOM under ``folder/dicom``; return its manifest rows (CT, and PT with a PET)."""
    paths = write_scan(out / folder / "dicom", study, (ct, grid.spacing_mm, grid.origin_mm), lesion_map,
                       None if pet is None else (pet, pet_grid.spacing_mm, pet_grid.origin_mm))
    relative = {key: str(path.relative_to(out)) for key, path in paths.items()}
    rows = [{**ct_row, "image": relative["ct"], "lesions": relative["rtstruct"]}]
    if "pet" in relative:
        rows.append({**ct_row, "modality": "PT", "image": relative["pet"], "lesions": "", "segmentation": ""})
    return rows


def _scan_truth(patient: Patient, tp: str, lab: np.ndarray, lesion_map: np.ndarray, suvmax: dict, grid: Grid,
                height_m2: float, burden: tuple[dict[int, float], dict[str, float]] | None = None) -> dict:
    """One scan's truth; with a PET, each lesion's ``burden_ml`` (its PET voxels with SUV >= 4) and the scan's true
    ``burden`` (``synth.pet.burden_truth``)."""
    l3 = np.flatnonzero((lab == Tissue.VERTEBRA + VERTEBRA_INDEX["vertebrae_L3"]).any(axis=(1, 2)))
    sma = patient.anatomy.l3_muscle_area_mm2(patient.muscle_scale[tp]) / 100
    counts = np.bincount(lesion_map.ravel(), minlength=1)
    volumes = burden[0] if burden else {}
    lesions = {
        str(le.label): {"site": le.site, "voxel_volume_mm3": float(counts[le.label]) * grid.voxel_mm3,
                        "ellipsoid_volume_mm3": le.volume_mm3(tp), "suvmax": suvmax.get(le.label),
                        "burden_ml": volumes.get(le.label, 0.0) if burden else None,
                        "centre_mm": [round(float(c), 3) for c in le.centre_mm]}
        for le in patient.lesions if le.label < len(counts) and counts[le.label] > 0
    }
    return {"scan_day": patient.timepoints[tp], "l3_slice": int((l3.min() + l3.max()) // 2), "l3_sma_cm2": sma,
            "l3_smi_cm2m2": sma / height_m2, "muscle_scale": patient.muscle_scale[tp], "lesions": lesions,
            **({"burden": burden[1]} if burden else {})}


def write_cohort(out: Path, n_patients: int = 40, seed: int = 0, size: str = "demo", pet_share: float = 1 / 3,
                 n_jobs: int = 2, dicom: bool = False) -> Path:
    """Write registry.csv, manifest.tsv, images/<pid>/<tp>/..., truth.json under `out`; return the manifest path.

    With ``dicom``, every scan is also written as a DICOM export (``images/<pid>/<tp>/dicom/``) listed in
    ``manifest_dicom.tsv``; ``truth.json`` then holds each patient's invented ``dicom_identity``.

    Patients are rendered in ``n_jobs`` processes; each has its own random streams, so the output does not depend
    on ``n_jobs``.
    """
    if size not in SIZES:
        raise ValueError(f"unknown synthetic size {size!r}; choose one of {sorted(SIZES)}")
    out = Path(out)
    patients = draw_patients(n_patients, seed, pet_share)
    truth = {"seed": seed, "size": size, "coefficients": COEFFICIENTS, "centre": CENTRE,
             "weibull_shape_median_days": WEIBULL, "oracle_cindex": oracle_cindex(patients), "patients": {}}
    written = Parallel(n_jobs=n_jobs)(delayed(write_patient)(out, patient, SIZES[size], seed, index, dicom)
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
