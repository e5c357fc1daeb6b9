"""Write synthetic scans as a hospital would export them: CT and PET series (PET in Bq/mL) and an RTSTRUCT.

Each patient gets an invented identity (name, birth date, hospital ID) so tests can check that none of it reaches
the pipeline's outputs. The PET stores activity concentration: SUVbw times the injected dose decayed to the series
start, over the body weight (QIBA, DecayCorrection START), as int16 with a per-slice rescale slope.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    PositronEmissionTomographyImageStorage,
    RTStructureSetStorage,
    generate_uid,
)

F18_HALF_LIFE_S = 6586.2
UPTAKE_S = 3600  # injection to series start
SURNAMES = ("Moreau", "Lindqvist", "Okafor", "Brennan", "Castellano", "Novak", "Haddad", "Kowalczyk", "Sato",
            "Ferreira")
GIVEN = ("Alma", "Bruno", "Clara", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas")


@dataclass(frozen=True)
class Identity:
    """What a hospital export carries about a patient (all invented here)."""

    patient_id: str  # the hospital's ID, not the study pseudonym
    name: str  # DICOM PN, Family^Given
    birth_date: str  # YYYYMMDD
    sex: str
    weight_kg: float
    height_m: float


def invent_identity(rng: np.random.Generator, sex: str, age: float, therapy_start: dt.date, weight_kg: float | None,
                    height_cm: float | None) -> Identity:
    """An invented hospital identity consistent with the registry's age, sex and body size."""
    birth = therapy_start - dt.timedelta(days=int(age * 365.25) + int(rng.integers(0, 365)))
    return Identity(f"H{rng.integers(10**7, 10**8)}", f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN)}",
                    birth.strftime("%Y%m%d"), sex, float(weight_kg or 75.0), float(height_cm or 172.0) / 100)


@dataclass(frozen=True)
class Study:
    """One imaging study: identity, date and the UIDs its series share."""

    identity: Identity
    date: dt.date
    study_uid: str
    frame_uid: str

    @classmethod
    def new(cls, identity: Identity, date: dt.date) -> Study:
        return cls(identity, date, generate_uid(), generate_uid())


def _dataset(study: Study, sop_class: str, modality: str, series_uid: str, number: int, description: str,
             time: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    who = study.identity
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = who.name, who.patient_id, who.birth_date, who.sex
    ds.PatientWeight, ds.PatientSize = f"{who.weight_kg:.8g}", f"{who.height_m:.4g}"
    ds.AccessionNumber = f"A{who.patient_id[1:]}{study.date:%y%m%d}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study.study_uid, series_uid, study.frame_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = f"{study.date:%Y%m%d}"
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = time
    ds.Modality, ds.SeriesNumber, ds.SeriesDescription = modality, number, description
    ds.Manufacturer, ds.StudyID = "wbrad synthetic", "1"
    return ds


def _write_slices(study: Study, volume: np.ndarray, spacing: tuple, origin: tuple, folder: Path, sop_class: str,
                  modality: str, number: int, description: str, extra: dict) -> str:
    """One file per slice, int16 with a per-slice rescale slope for float data; returns the series UID."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, extra = generate_uid(), dict(extra)
    time = extra.pop("time", "100000")
    for k, plane in enumerate(volume):
        ds = _dataset(study, sop_class, modality, series_uid, number, description, time)
        ds.update(_image_attributes(plane, spacing, (origin[0], origin[1], origin[2] + k * spacing[2]), k))
        for key, value in extra.items():
            setattr(ds, key, value)
        ds.save_as(folder / f"{modality}{k + 1:04d}.dcm", enforce_file_format=True)
    return series_uid


def _image_attributes(plane: np.ndarray, spacing: tuple, position: tuple, k: int) -> Dataset:
    ds = Dataset()
    ds.InstanceNumber, ds.ImagePositionPatient = k + 1, [f"{p:.4f}" for p in position]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.SliceThickness = [f"{spacing[1]:.4f}", f"{spacing[0]:.4f}"], f"{spacing[2]:.4f}"
    ds.Rows, ds.Columns = plane.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 1
    if np.issubdtype(plane.dtype, np.integer):
        stored, slope = plane.astype(np.int16), 1.0
    else:
        slope = max(float(np.abs(plane).max()), 1e-12) / 32767
        stored = np.rint(plane / slope).astype(np.int16)
    ds.RescaleIntercept, ds.RescaleSlope = "0", f"{slope:.10g}"
    ds.PixelData = stored.tobytes()
    return ds


def write_ct_series(hu: np.ndarray, spacing: tuple, origin: tuple, folder: Path, study: Study | None = None,
                    patient_id: str = "X") -> str:
    """A CT series (``hu`` int16 ``[z, y, x]`` on an identity-direction grid); returns the series UID."""
    study = study or Study.new(Identity(patient_id, "Test^Patient", "19600101", "O", 70.0, 1.7), dt.date(2024, 1, 1))
    return _write_slices(study, hu, spacing, origin, folder, CTImageStorage, "CT", 2, "CT WB 3.0 B30f",
                         {"KVP": "120", "ConvolutionKernel": "B30f", "GantryDetectorTilt": "0"})


def write_pet_series(suv: np.ndarray, spacing: tuple, origin: tuple, folder: Path, study: Study,
                     dose_bq: float = 3.5e8) -> str:
    """A PET series in Bq/mL whose QIBA SUVbw equals ``suv`` (float ``[z, y, x]``); returns the series UID."""
    injection = dt.datetime.combine(study.date, dt.time(9, 0))
    start = injection + dt.timedelta(seconds=UPTAKE_S)
    decayed = dose_bq * 2 ** (-UPTAKE_S / F18_HALF_LIFE_S)
    activity = suv * decayed / (study.identity.weight_kg * 1000)
    drug = Dataset()
    drug.Radiopharmaceutical, drug.RadionuclideTotalDose = "Fluorodeoxyglucose", f"{dose_bq:.6g}"
    drug.RadionuclideHalfLife, drug.RadionuclidePositronFraction = f"{F18_HALF_LIFE_S}", "0.9686"
    drug.RadiopharmaceuticalStartTime = f"{injection:%H%M%S}"
    drug.RadiopharmaceuticalStartDateTime = f"{injection:%Y%m%d%H%M%S}"
    nuclide = Dataset()
    nuclide.CodeValue, nuclide.CodingSchemeDesignator, nuclide.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
    drug.RadionuclideCodeSequence = [nuclide]
    extra = {"time": f"{start:%H%M%S}", "Units": "BQML", "DecayCorrection": "START",
             "CorrectedImage": ["ATTN", "DECY", "SCAT", "DTIM", "NORM"], "SeriesType": ["WHOLE BODY", "IMAGE"],
             "RadiopharmaceuticalInformationSequence": [drug], "FrameReferenceTime": "0",
             "ActualFrameDuration": "120000"}
    return _write_slices(study, activity, spacing, origin, folder, PositronEmissionTomographyImageStorage, "PT", 3,
                         "PET WB AC", extra)


def pixel_edge_loops(mask: np.ndarray) -> list[np.ndarray]:
    """Closed loops along the outer edges of a 2D mask's pixels, as ``(x, y)`` corner coordinates in pixels.

    Filled by the even-odd rule at pixel centres, the loops give back exactly ``mask`` (holes included).
    """
    padded = np.pad(mask.astype(bool), 1)
    edges: dict[tuple[float, float], list[tuple[float, float]]] = {}
    sides = {(0, -1): ((-.5, .5), (-.5, -.5)), (1, 0): ((.5, .5), (-.5, .5)),  # (dy, dx): neighbour -> edge
             (0, 1): ((.5, -.5), (.5, .5)), (-1, 0): ((-.5, -.5), (.5, -.5))}
    for (dy, dx), ((x0, y0), (x1, y1)) in sides.items():
        outside = padded[1:-1, 1:-1] & ~padded[1 + dy:padded.shape[0] - 1 + dy, 1 + dx:padded.shape[1] - 1 + dx]
        for y, x in zip(*np.nonzero(outside), strict=True):
            edges.setdefault((x + x0, y + y0), []).append((x + x1, y + y1))
    loops = []
    while edges:
        start = next(iter(edges))
        loop, point = [start], start
        while True:
            nxt = edges[point].pop()
            if not edges[point]:
                del edges[point]
            if nxt == start:
                break
            loop.append(nxt)
            point = nxt
        loops.append(np.array(loop))
    return loops


def write_rtstruct(labels: np.ndarray, spacing: tuple, origin: tuple, path: Path, study: Study, ct_series_uid: str,
                   roi_name: str = "lesion_{label}") -> None:
    """An RTSTRUCT with one ROI per label of ``labels`` (``[z, y, x]`` on the CT grid), named ``roi_name``."""
    ds = _dataset(study, RTStructureSetStorage, "RTSTRUCT", generate_uid(), 4, "lesions", "120000")
    ds.StructureSetLabel, ds.StructureSetDate, ds.StructureSetTime = "lesions", ds.StudyDate, "120000"
    frame = Dataset()
    frame.FrameOfReferenceUID = study.frame_uid
    ds.ReferencedFrameOfReferenceSequence = [frame]
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = [], [], []
    for number, label in enumerate(int(v) for v in np.unique(labels) if v):
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID = number + 1, study.frame_uid
        roi.ROIName, roi.ROIGenerationAlgorithm = roi_name.format(label=label), "MANUAL"
        ds.StructureSetROISequence.append(roi)
        contours = Dataset()
        contours.ReferencedROINumber, contours.ROIDisplayColor, contours.ContourSequence = number + 1, [255, 0, 0], []
        for k in np.flatnonzero((labels == label).any(axis=(1, 2))):
            for loop in pixel_edge_loops(labels[k] == label):
                contour = Dataset()
                contour.ContourGeometricType, contour.NumberOfContourPoints = "CLOSED_PLANAR", len(loop)
                mm = np.column_stack([origin[0] + loop[:, 0] * spacing[0], origin[1] + loop[:, 1] * spacing[1],
                                      np.full(len(loop), origin[2] + k * spacing[2])])
                contour.ContourData = [f"{v:.4f}" for v in mm.ravel()]
                contours.ContourSequence.append(contour)
        ds.ROIContourSequence.append(contours)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = number + 1, number + 1
        observation.RTROIInterpretedType, observation.ROIInterpreter = "GTV", ""
        ds.RTROIObservationsSequence.append(observation)
    series, study_ref = Dataset(), Dataset()
    series.SeriesInstanceUID = ct_series_uid
    study_ref.ReferencedSOPClassUID, study_ref.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.1", study.study_uid
    study_ref.RTReferencedSeriesSequence = [series]
    frame.RTReferencedStudySequence = [study_ref]
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_scan(folder: Path, study: Study, ct: tuple[np.ndarray, tuple, tuple], lesions: np.ndarray,
               pet: tuple[np.ndarray, tuple, tuple] | None) -> dict[str, Path]:
    """One timepoint's export under ``folder``: ``ct/``, ``rtstruct.dcm`` and, with a PET, ``pet/``.

    ``ct`` and ``pet`` are ``(array [z, y, x], spacing, origin)`` on identity-direction grids.
    """
    paths = {"ct": folder / "ct", "rtstruct": folder / "rtstruct.dcm"}
    uid = write_ct_series(*ct, paths["ct"], study)
    write_rtstruct(lesions, ct[1], ct[2], paths["rtstruct"], study, uid)
    if pet is not None:
        paths["pet"] = folder / "pet"
        write_pet_series(*pet, paths["pet"], study)
    return paths
