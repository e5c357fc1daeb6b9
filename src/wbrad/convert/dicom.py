"""Read a DICOM image series folder: headers with pydicom, slice geometry, pixels with SimpleITK/GDCM.

GDCM decodes the compressed transfer syntaxes (JPEG, JPEG 2000, JPEG-LS, RLE). Before reading pixels, the headers
are checked: one series, one orientation, no gantry tilt. Errors name the scan (``name``: patient, timepoint) and the
series. The slices are then placed along the slice normal as scanners write them:

- **Beds.** Slices sharing ``BED_KEYWORDS`` (AcquisitionNumber, AcquisitionDate/Time, FrameReferenceTime) form one
  bed; a multi-bed PET writes these per bed position. Where they are the same for every slice, or differ from slice
  to slice (some CTs time each slice), the series is one bed.
- **Overlapping beds.** Where a bed reaches below the top of the beds under it, the point halfway between the two beds'
  centres splits the overlap: the lower bed keeps its slices at or below that point, the upper bed its slices more
  than the gap tolerance above the lower bed's last kept slice (a near-duplicate at the split goes to the lower bed).
  Each position of the overlap thus comes from the bed whose centre is nearer, i.e. from nearer the centre of the
  scanner's axial field of view: a 3D PET's axial sensitivity peaks there and falls towards the edges (the axial
  sensitivity profile of NEMA NU 2), which is why beds overlap at all. A bed lying within the beds below is an error.
- **Gaps.** The nominal spacing is the median gap between neighbouring slices of one bed. A gap within the tolerance
  (``convert.slice_gap_tolerance``, a fraction of the spacing) is accepted, as is a shorter one where the overlap
  rule joins two beds; a gap of a whole number of spacings is an error naming the missing positions and the files
  around it; any other gap is an error.
- **Grid.** The regular grid starts at the first slice, at the nominal spacing, to the last slice (rounded to whole
  spacings). When every slice lies within ``POSITION_RTOL`` of the spacing of its own grid position the slices are
  read as they are; else they are resampled onto the grid along the normal (:func:`regularise`: linear for images,
  the nearest slice for label maps), and the provenance and the log say so.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

if TYPE_CHECKING:  # pydicom is imported where headers are read: a job on NIfTI images does not need it
    from pydicom.dataset import Dataset

log = logging.getLogger(__name__)

ORIENTATION_TOL = 1e-4
GAP_TOLERANCE = 0.1  # default convert.slice_gap_tolerance: a gap within 10 % of the spacing is resampled over
POSITION_RTOL = 0.01  # slices within 1 % of the spacing of their grid position are read as they are (header rounding)
DUPLICATE_MM = 1e-3  # two slices closer than this share one position
BED_KEYWORDS = ("AcquisitionNumber", "AcquisitionDate", "AcquisitionTime", "FrameReferenceTime")
MIN_BED_SLICES = 3  # groups of fewer slices are per-slice timing, not beds
PIXEL_DATA, UNDEFINED_LENGTH = 0x7FE00010, 0xFFFFFFFF


@dataclass
class SliceGeometry:
    """Where the kept slices of a series lie along its normal, and the regular grid they are read onto."""

    spacing: float  # nominal slice spacing, mm
    positions: np.ndarray  # kept slices along the normal, ascending, mm
    tolerance: float  # accepted gap deviation, fraction of the spacing
    beds: int = 1
    dropped: list[float] = field(default_factory=list)  # positions of overlapping slices left out, mm

    @property
    def grid(self) -> np.ndarray:
        """Positions of the regular grid along the normal (mm)."""
        count = int(round((self.positions[-1] - self.positions[0]) / self.spacing)) + 1
        return self.positions[0] + self.spacing * np.arange(count)

    @property
    def resampled(self) -> bool:
        """Whether the slices are resampled: their number differs from the grid's, or one lies off its grid
        position by more than ``POSITION_RTOL`` of the spacing."""
        steps = (self.positions - self.positions[0]) / self.spacing
        return len(steps) != len(self.grid) or bool(np.abs(steps - np.arange(len(steps))).max() > POSITION_RTOL)

    def largest_deviation(self) -> tuple[float, float]:
        """The gap that differs most from the spacing: its deviation (signed, mm) and the slice below it (mm)."""
        gaps = np.diff(self.positions)
        if not gaps.size:
            return 0.0, float(self.positions[0])
        k = int(np.argmax(np.abs(gaps - self.spacing)))
        return float(gaps[k] - self.spacing), float(self.positions[k])

    def stack_index(self, position: np.ndarray) -> np.ndarray:
        """Continuous index into the kept slices of positions along the normal: linear between slices, at the
        nominal spacing beyond the first and last."""
        p = np.asarray(position, float)
        first, last = self.positions[0], self.positions[-1]
        inside = np.interp(p, self.positions, np.arange(len(self.positions)))
        return np.where(p < first, (p - first) / self.spacing,
                        np.where(p > last, len(self.positions) - 1 + (p - last) / self.spacing, inside))


@dataclass
class DicomSeries:
    """The kept image instances of one series, sorted along the slice normal (feet to head for axial scans)."""

    folder: Path
    files: list[Path]
    headers: list[Dataset]
    positions: np.ndarray  # position of each slice along the normal, mm
    geometry: SliceGeometry | None = None

    @property
    def label(self) -> str:
        return _label(self.headers[0])


def _label(first: Dataset) -> str:
    return (f"{first.get('Modality') or '?'} series '{first.get('SeriesDescription') or ''}' "
            f"(number {first.get('SeriesNumber') or '?'})")


def _read_headers(folder: Path, name: str) -> list[tuple[Path, Dataset]]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            continue
        if "ImagePositionPatient" in ds:
            found.append((path, ds))
    if not found:
        raise ValueError(f"{name}: no DICOM image files in {folder}")
    return found


def _slice_normal(headers: list[Dataset], name: str, folder: Path) -> np.ndarray:
    """The common slice normal; mixed orientations are an error."""
    orientations = np.array([[float(v) for v in ds.ImageOrientationPatient] for ds in headers])
    if np.abs(orientations - orientations[0]).max() > ORIENTATION_TOL:
        distinct = np.unique(orientations.round(4), axis=0)
        raise ValueError(f"{name}: mixed ImageOrientationPatient (0020,0037) in {folder}: {distinct.tolist()}")
    row, col = orientations[0, :3], orientations[0, 3:]
    return np.cross(row, col)


def is_dicom(path: str | Path) -> bool:
    """Whether ``path`` is a DICOM file or a folder (of DICOM files), rather than a NIfTI file."""
    path = Path(path)
    if path.is_dir():
        return True
    if not path.is_file():
        return False
    with path.open("rb") as fh:  # pydicom.misc.is_dicom's test (preamble, then 'DICM'), without importing pydicom
        fh.read(128)
        return fh.read(4) == b"DICM"


def read_series_headers(folder: str | Path, name: str, gap_tolerance: float = GAP_TOLERANCE) -> DicomSeries:
    """Headers of the single image series in ``folder`` (recursively), sorted, checked, overlaps resolved (see the
    module's docstring); ``gap_tolerance`` is the accepted gap deviation as a fraction of the spacing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{name}: DICOM folder not found: {folder}")
    found = _read_headers(folder, name)
    uids = sorted({str(ds.SeriesInstanceUID) for _, ds in found})
    if len(uids) > 1:
        raise ValueError(f"{name}: {folder} holds {len(uids)} DICOM series, expected one: {', '.join(uids)}")
    normal = _slice_normal([ds for _, ds in found], name, folder)
    corners = np.array([[float(v) for v in ds.ImagePositionPatient] for _, ds in found])
    order = np.argsort(corners @ normal, kind="stable")
    files, headers = [found[i][0] for i in order], [found[i][1] for i in order]
    where = f"{name}: {_label(headers[0])}"
    _check_tilt(headers, corners[order], normal, where)
    positions = corners[order] @ normal
    beds = bed_slices(headers)
    spacing = nominal_spacing(positions, beds)
    kept = keep_slices(positions, beds, spacing, gap_tolerance, where)
    dropped = sorted(set(range(len(files))) - set(kept.tolist()))
    geometry = SliceGeometry(spacing, positions[kept], gap_tolerance, len(beds), positions[dropped].tolist())
    series = DicomSeries(folder, [files[i] for i in kept], [headers[i] for i in kept], positions[kept], geometry)
    bed_of = np.zeros(len(files), int)
    for number, bed in enumerate(beds):
        bed_of[bed] = number
    check_gaps(series, bed_of[kept], where)
    _log_geometry(geometry, where)
    return series


def _check_tilt(headers: list[Dataset], corners: np.ndarray, normal: np.ndarray, where: str) -> None:
    """Gantry tilt and slice positions moving within the image plane are errors naming the series and the tag."""
    tilts = {float(ds.get("GantryDetectorTilt") or 0) for ds in headers}
    if any(abs(t) > ORIENTATION_TOL for t in tilts):
        raise ValueError(f"{where}: gantry tilt {sorted(tilts)} degrees (GantryDetectorTilt (0018,1120)); "
                         f"tilted series are not supported, resample them first")
    offsets = corners - corners[0]
    along = offsets @ normal
    in_plane = np.abs(offsets - np.outer(along, normal)).max()
    if in_plane > 0.01 * max(float(along.max() - along.min()), 1):
        raise ValueError(f"{where}: slice positions (ImagePositionPatient (0020,0032)) move within the image "
                         f"plane by up to {in_plane:.2f} mm: a tilted or sheared series")


def bed_slices(headers: list[Dataset]) -> list[np.ndarray]:
    """The slice indices of each bed: slices sharing ``BED_KEYWORDS``; one bed where these tags are the same for all
    slices or a group holds fewer than ``MIN_BED_SLICES`` slices."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, ds in enumerate(headers):
        groups.setdefault(tuple(str(ds.get(k, "")) for k in BED_KEYWORDS), []).append(i)
    if len(groups) == 1 or min(map(len, groups.values())) < MIN_BED_SLICES:
        return [np.arange(len(headers))]
    return [np.array(group) for group in groups.values()]


def nominal_spacing(positions: np.ndarray, beds: list[np.ndarray]) -> float:
    """The median gap between neighbouring slices of one bed (``positions`` ascending); 1 mm for a single slice."""
    gaps = np.concatenate([np.diff(positions[bed]) for bed in beds])
    gaps = gaps[gaps > DUPLICATE_MM]
    return float(np.median(gaps)) if gaps.size else 1.0


def keep_slices(positions: np.ndarray, beds: list[np.ndarray], spacing: float, tolerance: float,
                where: str = "series") -> np.ndarray:
    """Indices of the slices kept where beds overlap (the rule of the module's docstring), ascending by position.

    ``positions`` are ascending; each bed lists its slice indices in ascending order.
    """
    beds = sorted(beds, key=lambda bed: positions[bed[0]])
    kept, centre = list(beds[0]), _centre(positions[beds[0]])
    for bed in beds[1:]:
        low, high, top = positions[bed[0]], positions[bed[-1]], positions[kept[-1]]
        if high <= top:
            raise ValueError(f"{where}: the bed of slices at {low:.3f}..{high:.3f} mm lies within the beds below it "
                             f"(ending at {top:.3f} mm): a duplicated acquisition?")
        if low <= top:
            split = min(max((centre + _centre(positions[bed])) / 2, low), top)
            kept = [i for i in kept if positions[i] <= split]
        last = positions[kept[-1]]
        kept += [i for i in bed if positions[i] > last + tolerance * spacing]
        centre = _centre(positions[bed])
    return np.array(kept, int)


def _centre(positions: np.ndarray) -> float:
    return float(positions[0] + positions[-1]) / 2


def check_gaps(series: DicomSeries, bed_of: np.ndarray, where: str) -> None:
    """Every gap between kept slices is within the tolerance, or a shorter one joining two beds; the first other gap
    is an error naming the positions and files around it (and the missing positions of a missing slice)."""
    geometry, positions = series.geometry, series.positions
    for k, gap in enumerate(np.diff(positions)):
        problem = _gap_problem(float(gap), geometry.spacing, geometry.tolerance, bed_of[k] != bed_of[k + 1])
        if problem is None:
            continue
        what, details = problem
        missing = ""
        if what.endswith("missing slice(s)"):
            steps = int(round(gap / geometry.spacing))
            at = positions[k] + geometry.spacing * np.arange(1, steps)
            missing = f"; missing position(s) {np.round(at, 3).tolist()} mm"
        raise ValueError(f"{where}: {what}: gap of {gap:.3f} mm between slices at {positions[k]:.3f} and "
                         f"{positions[k + 1]:.3f} mm (files {series.files[k].name}, {series.files[k + 1].name}) "
                         f"where the spacing is {geometry.spacing:.3f} mm{missing}{details}")


def _gap_problem(gap: float, spacing: float, tolerance: float, junction: bool) -> tuple[str, str] | None:
    """None for an accepted gap, else what is wrong and a hint."""
    if gap < DUPLICATE_MM:
        return "more than one slice at one position", " (ImagePositionPatient (0020,0032))"
    if abs(gap - spacing) <= tolerance * spacing or (junction and gap < spacing):
        return None
    if gap < spacing:
        return "uneven slice spacing", (": overlapping slices that no header (" + ", ".join(BED_KEYWORDS) +
                                        ") assigns to different beds")
    steps = int(round(gap / spacing))
    if steps >= 2 and abs(gap - steps * spacing) <= tolerance * spacing:
        return f"{steps - 1} missing slice(s)", ""
    return "uneven slice spacing", f" (beyond convert.slice_gap_tolerance {tolerance:g} of the spacing)"


def _log_geometry(geometry: SliceGeometry, where: str) -> None:
    deviation, at = geometry.largest_deviation()
    dropped = (f"; {len(geometry.dropped)} overlapping slice(s) left out at {np.round(geometry.dropped, 3).tolist()} mm"
               if geometry.dropped else "")
    grid = (f"resampled onto a regular {geometry.spacing:.4g} mm grid of {len(geometry.grid)} slices (linear)"
            if geometry.resampled else "read as they are (regular)")
    log.info("%s: %d slices in %d bed(s), spacing %.4g mm, largest gap deviation %+.3f mm (%.2f %%) above %.3f mm%s; "
             "%s", where, len(geometry.positions), geometry.beds, geometry.spacing, deviation,
             100 * deviation / geometry.spacing, at, dropped, grid)


def read_dicom_series(folder: str | Path, name: str = "", gap_tolerance: float = GAP_TOLERANCE) -> sitk.Image:
    """Read the single DICOM series in ``folder`` onto its regular grid (rescale slope and intercept applied by
    GDCM); a PET, whose slope varies per slice, goes through ``read_series_pixels(..., float_pixels=True)``."""
    series = read_series_headers(folder, name or str(folder), gap_tolerance)
    return regularise(read_series_pixels(series, name), series.geometry)


def pixel_data_problem(path: Path) -> str | None:
    """Why the PixelData (7FE0,0010) of a DICOM file is not all there, or None: native pixel data shorter than
    Rows x Columns x frames x samples x BitsAllocated / 8 or cut off by the end of the file, or encapsulated
    fragments without their end (pydicom then drops the element)."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'End of file reached before delimiter': the element is then absent
        ds = pydicom.dcmread(path, defer_size=256)  # values above 256 bytes are not read, only measured
    raw = ds.get_item(PIXEL_DATA, keep_deferred=True)
    if raw is None:
        return "no PixelData (7FE0,0010), or its encapsulated fragments cut off by the end of the file"
    if raw.length == UNDEFINED_LENGTH:  # encapsulated: GDCM decodes the fragments pydicom found whole
        return None
    frames = int(ds.get("NumberOfFrames") or 1)
    bits = int(ds.Rows) * int(ds.Columns) * frames * int(ds.get("SamplesPerPixel") or 1) * int(ds.BitsAllocated)
    deflated = ds.file_meta.get("TransferSyntaxUID") == pydicom.uid.DeflatedExplicitVRLittleEndian  # offsets inflated
    end = raw.length if deflated else path.stat().st_size - raw.value_tell
    expected, present = (bits + 7) // 8, min(raw.length, end)
    if present >= expected:
        return None
    return (f"PixelData (7FE0,0010) holds {present:,} bytes where Rows x Columns x frames x samples x "
            f"BitsAllocated / 8 is {expected:,}: a cut-off file (an interrupted copy?)")


def read_series_pixels(series: DicomSeries, name: str, float_pixels: bool = False) -> sitk.Image:
    """The pixels of checked ``series`` as one stack, slices in the series' order (not yet on the regular grid:
    see :func:`regularise`); a file whose pixel data are not all there is an error naming it."""
    for path in series.files:
        if (why := pixel_data_problem(path)) is not None:
            raise ValueError(f"{name}: {path}: {why}")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in series.files])
    reader.SetSpacingWarningRelThreshold(1.0)  # the slice geometry is checked from the headers (read_series_headers)
    if float_pixels:
        reader.SetOutputPixelType(sitk.sitkFloat64)
    try:
        return reader.Execute()
    except RuntimeError as err:
        raise ValueError(f"{name}: cannot read the pixels of {series.label}: {err}") from err


def slice_weights(index: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For linear interpolation at continuous slice indices (clamped to the ``count`` slices): the slice below each
    and the weight of the slice above it."""
    index = np.clip(np.asarray(index, float), 0, count - 1)
    lower = np.minimum(np.floor(index).astype(int), max(count - 2, 0))
    return lower, index - lower


def regularise(stack: sitk.Image, geometry: SliceGeometry | None, nearest: bool = False) -> sitk.Image:
    """``stack`` (an image of the kept slices, as read) on the regular grid of ``geometry``: the stack itself where
    the slices lie on it (or ``geometry`` is None), else resampled along the normal, linearly as float32 or, with
    ``nearest``, from the nearest slice (label maps; pixel type kept).

    An ITK image cannot hold unevenly spaced slices, so ``sitk.Resample`` cannot take the stack; with the in-plane
    grid unchanged, trilinear interpolation is this linear interpolation between the two neighbouring slices.
    """
    if geometry is None or not geometry.resampled:
        return stack
    arr = sitk.GetArrayViewFromImage(stack)
    index = geometry.stack_index(geometry.grid)
    if nearest:
        out = arr[np.rint(np.clip(index, 0, len(arr) - 1)).astype(int)]
    else:
        out = np.empty((len(index), *arr.shape[1:]), np.float32)
        for k, (lower, weight) in enumerate(zip(*slice_weights(index, len(arr)), strict=True)):
            out[k] = (1 - weight) * arr[lower] + weight * arr[lower + 1]
    img = sitk.GetImageFromArray(out)
    img.SetOrigin(stack.GetOrigin())
    img.SetDirection(stack.GetDirection())
    img.SetSpacing((*stack.GetSpacing()[:2], geometry.spacing))
    return img


def stack_points(points_mm: np.ndarray, geometry: SliceGeometry, stack: sitk.Image) -> np.ndarray:
    """Points (n x 3, mm) moved along the normal to where ``stack``, whose slices ITK spaces evenly, has the slices
    they lie on: a contour drawn on a slice then falls on that slice of the stack."""
    normal = np.array(stack.GetDirection()).reshape(3, 3)[:, 2]
    along = points_mm @ normal
    target = float(np.dot(normal, stack.GetOrigin())) + geometry.stack_index(along) * stack.GetSpacing()[2]
    return points_mm + np.outer(target - along, normal)
