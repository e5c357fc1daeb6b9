"""Write synthetic scans as a hospital would export them: CT and PET series (PET in Bq/mL) and an RTSTRUCT.

Each patient gets an invented identity (name, birth date, hospital ID) so tests can check that none of it reaches
the pipeline's outputs. The PET stores activity concentration: SUVbw times the injected dose decayed to the series
start, over the body weight (QIBA, DecayCorrection START), as int16 with a per-slice rescale slope.

Slices lie where scanners put them (:class:`BedLayout`): the exported PET has several beds, each with its own
acquisition time, and at each junction a gap a few % off the spacing (a real GE whole-body PET: 2.4 %); in the CT
the gaps at both ends of its middle third are 2 % off. Beds may overlap. By default the stored values are
pre-compensated: linear resampling onto the nominal grid (what :mod:`wbrad.convert.dicom` does) gives back the
synthetic image, so a DICOM run reproduces the NIfTI run; ``precompensate=False`` samples the image linearly at the
shifted slices instead, as a scanner samples a patient.
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

from wbrad.convert.dicom import GAP_TOLERANCE, MIN_BED_SLICES, SliceGeometry, keep_slices, slice_weights

F18_HALF_LIFE_S = 6586.2
UPTAKE_S = 3600  # injection to series start
BED_S = 120  # acquisition time per bed position
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


@dataclass(frozen=True)
class BedLayout:
    """Where a scanner puts the slices along z: beds of about ``bed_mm`` (0: one bed), each also repeating the top
    ``overlap`` slices of the bed below, and at each junction a gap that differs from the spacing by the fraction
    ``gaps`` (cycled; each bed shifted by the sum of the junctions below it). ``timed``: each bed has its own
    AcquisitionTime and FrameReferenceTime, as a multi-bed PET writes them; else the junctions are irregularities
    of one acquisition."""

    bed_mm: float = 0.0
    overlap: int = 0
    gaps: tuple[float, ...] = ()
    timed: bool = True


REGULAR = BedLayout()
PET_BEDS = BedLayout(bed_mm=157.0, gaps=(0.024, -0.015, 0.03))  # 15.7 cm axial field of view per bed (GE)
CT_JUNCTION = BedLayout(bed_mm=150.0, gaps=(0.02, -0.02), timed=False)  # a middle part 2 % off: same coverage


@dataclass(frozen=True)
class SlicePlan:
    """The slices of a series, ascending in z: the volume slice each shows, its position (mm) and bed."""

    index: np.ndarray
    z: np.ndarray
    bed: np.ndarray

    def beds(self, layout: BedLayout) -> list[np.ndarray]:
        """Slice indices per bed as the converter groups them: by bed where beds are timed, else one."""
        return [np.flatnonzero(self.bed == b) for b in np.unique(self.bed)] if layout.timed else \
            [np.arange(len(self.z))]


def slice_plan(count: int, spacing: float, origin: float, layout: BedLayout) -> SlicePlan:
    """Where the ``count`` slices of a volume starting at z ``origin`` go under ``layout`` (positions to 1e-4 mm,
    as written)."""
    n_beds = max(1, round(count * spacing / layout.bed_mm)) if layout.bed_mm else 1
    bounds = np.round(np.linspace(0, count, n_beds + 1)).astype(int)
    shifts = np.concatenate([[0.0], np.cumsum([layout.gaps[b % len(layout.gaps)] if layout.gaps else 0.0
                                               for b in range(n_beds - 1)])]) * spacing
    index, bed = [], []
    for b in range(n_beds):
        slices = np.arange(max(bounds[b] - (layout.overlap if b else 0), 0), bounds[b + 1])
        if layout.timed and n_beds > 1 and len(slices) < MIN_BED_SLICES:
            raise ValueError(f"bed {b} of {layout} holds {len(slices)} slices; beds need {MIN_BED_SLICES}")
        index.append(slices)
        bed.append(np.full(len(slices), b))
    index, bed = np.concatenate(index), np.concatenate(bed)
    z = np.round(origin + index * spacing + shifts[bed], 4)
    order = np.argsort(z, kind="stable")
    return SlicePlan(index[order], z[order], bed[order])


def _sampled(volume: np.ndarray, z: np.ndarray, spacing: float, origin: float) -> np.ndarray:
    """``volume`` (``[z, y, x]``, float) linearly interpolated at positions ``z``."""
    lower, weight = slice_weights((z - origin) / spacing, len(volume))
    weight = weight[:, None, None]
    return (1 - weight) * volume[lower] + weight * volume[np.minimum(lower + 1, len(volume) - 1)]


def slice_values(volume: np.ndarray, plan: SlicePlan, layout: BedLayout, spacing: float,
                 precompensate: bool = True) -> np.ndarray:
    """The planes to store per slice of ``plan``: ``volume`` sampled at the slices' positions or, with
    ``precompensate``, on the slices the converter keeps, the values whose linear resampling onto the nominal grid
    gives back ``volume`` (the solution of the converter's interpolation equations; where it keeps other than one
    slice per grid position, sampled)."""
    volume = volume.astype(np.float64)
    planes = _sampled(volume, plan.z, spacing, plan.z[0])
    if not precompensate:
        return planes
    kept = keep_slices(plan.z, plan.beds(layout), spacing, GAP_TOLERANCE)
    geometry = SliceGeometry(spacing, plan.z[kept], GAP_TOLERANCE)
    if not geometry.resampled:  # the converter reads these slices as they are
        planes[kept] = volume[plan.index[kept]]
        return planes
    grid = geometry.grid
    if len(grid) != len(kept) or len(grid) != len(volume):
        return planes  # not one kept slice per grid position (e.g. overlaps the converter rejects): sampled
    lower, weight = slice_weights(geometry.stack_index(grid), len(kept))
    matrix = np.zeros((len(grid), len(kept)))
    rows = np.arange(len(grid))
    np.add.at(matrix, (rows, lower), 1 - weight)
    np.add.at(matrix, (rows, lower + 1), weight)
    planes[kept] = np.linalg.solve(matrix, volume.reshape(len(volume), -1)).reshape(volume.shape)
    return planes


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
                  modality: str, number: int, description: str, extra: dict, layout: BedLayout = REGULAR,
                  precompensate: bool = True) -> str:
    """One file per slice of ``layout``, int16 with a per-slice rescale slope for float data; returns the series UID."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, extra = generate_uid(), dict(extra)
    time = extra.pop("time", "100000")
    plan = slice_plan(len(volume), spacing[2], origin[2], layout)
    planes = slice_values(volume, plan, layout, spacing[2], precompensate)
    if np.issubdtype(volume.dtype, np.integer):
        info = np.iinfo(np.int16)
        planes = np.clip(np.rint(planes), info.min, info.max).astype(np.int16)
    start = dt.datetime.strptime(time, "%H%M%S")
    for k, plane in enumerate(planes):
        ds = _dataset(study, sop_class, modality, series_uid, number, description, time)
        ds.update(_image_attributes(plane, spacing, (origin[0], origin[1], plan.z[k]), k))
        for key, value in extra.items():
            setattr(ds, key, value)
        if layout.timed and plan.bed.max() > 0:  # each bed its own acquisition start
            ds.AcquisitionTime = f"{start + dt.timedelta(seconds=BED_S * int(plan.bed[k])):%H%M%S}"
            ds.FrameReferenceTime = f"{1000 * BED_S * int(plan.bed[k])}"
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
                    patient_id: str = "X", layout: BedLayout = REGULAR, precompensate: bool = True,
                    scanner: dict[str, str] | None = None) -> str:
    """A CT series (``hu`` int16 ``[z, y, x]`` on an identity-direction grid, slices placed by ``layout``); returns
    the series UID. ``scanner``: attributes that name the scanner (``synth.scanner.ScannerProfile.dicom``: Manufacturer,
    ManufacturerModelName, ConvolutionKernel, SeriesDescription), over the defaults."""
    study = study or Study.new(Identity(patient_id, "Test^Patient", "19600101", "O", 70.0, 1.7), dt.date(2024, 1, 1))
    extra = {"KVP": "120", "ConvolutionKernel": "B30f", "GantryDetectorTilt": "0", **(scanner or {})}
    description = extra.pop("SeriesDescription", "CT WB 3.0 B30f")
    return _write_slices(study, hu, spacing, origin, folder, CTImageStorage, "CT", 2, description, extra, layout,
                         precompensate)


def write_pet_series(suv: np.ndarray, spacing: tuple, origin: tuple, folder: Path, study: Study,
                     dose_bq: float = 3.5e8, layout: BedLayout = PET_BEDS, precompensate: bool = True) -> str:
    """A PET series in Bq/mL whose QIBA SUVbw equals ``suv`` (float ``[z, y, x]``) on its nominal grid, in the beds of
    ``layout`` (see the module's docstring); returns the series UID."""
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
                         "PET WB AC", extra, layout, precompensate)


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
                   roi_name: str = "lesion_{label}", slice_z: np.ndarray | None = None) -> None:
    """An RTSTRUCT with one ROI per label of ``labels`` (``[z, y, x]`` on the CT grid), named ``roi_name``; contours
    of slice ``k`` lie at ``slice_z[k]`` (the CT slice's position; default: on the regular grid)."""
    if slice_z is None:
        slice_z = origin[2] + spacing[2] * np.arange(len(labels))
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
                                      np.full(len(loop), slice_z[k])])
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
               pet: tuple[np.ndarray, tuple, tuple] | None, ct_layout: BedLayout = CT_JUNCTION,
               pet_layout: BedLayout = PET_BEDS, scanner: dict[str, str] | None = None) -> dict[str, Path]:
    """One timepoint's export under ``folder``: ``ct/``, ``rtstruct.dcm`` and, with a PET, ``pet/``.

    ``ct`` and ``pet`` are ``(array [z, y, x], spacing, origin)`` on identity-direction grids; slices are placed by
    the layouts (the CT's without overlap, so that each contour has its one slice); ``scanner`` names the CT's
    scanner (``write_ct_series``).
    """
    if ct_layout.overlap:
        raise ValueError("the CT layout of an export must not overlap: each contour needs its one slice")
    paths = {"ct": folder / "ct", "rtstruct": folder / "rtstruct.dcm"}
    uid = write_ct_series(*ct, paths["ct"], study, layout=ct_layout, scanner=scanner)
    slice_z = slice_plan(len(ct[0]), ct[1][2], ct[2][2], ct_layout).z
    write_rtstruct(lesions, ct[1], ct[2], paths["rtstruct"], study, uid, slice_z=slice_z)
    if pet is not None:
        paths["pet"] = folder / "pet"
        write_pet_series(*pet, paths["pet"], study, layout=pet_layout)
    return paths
