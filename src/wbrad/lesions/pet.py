"""PET uptake per lesion on the PET's own grid: SUVmax, SUVpeak, SUVmean, metabolic tumour volume (MTV) and total
lesion glycolysis (TLG), with an optional automatic delineation inside each lesion.

The CT lesion map is brought onto the PET grid by nearest neighbour (a PET voxel belongs to the lesion whose CT voxel
holds its centre), so no SUV is interpolated. Delineation (``method``) chooses the metabolic volume inside each lesion:

- ``lesion``: the whole lesion (default);
- ``relative``: voxels with SUV >= ``relative`` x the lesion's SUVmax (41 %, EANM);
- ``absolute``: voxels with SUV >= ``absolute`` (SUV 4);
- ``percist``: voxels with SUV >= 1.5 x liver SUVmean + 2 x liver SD (PERCIST 1.0), the liver reference taken in the
  liver mask at least ``liver_margin_mm`` from its border and from every lesion (PERCIST's 3 cm sphere in the right
  lobe needs a reader; this is its automatic stand-in).

SUVmean, MTV and TLG (SUVmean x MTV) are over the delineated voxels, each weighted by the share of its volume inside
the lesion (exact, from the overlap of the two grids); SUVmax and SUVpeak over the PET voxels whose centre is in the
lesion. SUVpeak is the largest mean SUV in a 1 cm3 sphere centred on such a voxel (PERCIST; IBSI's "global intensity
peak" without partial-volume weights), over every PET voxel whose centre lies in the sphere.

Fields of view: the values describe the part of the lesion inside both images. For a lesion cut by the CT's border
(status ``truncated``, see ``extract``) and for one that reaches beyond the PET's field of view (``border`` names the
PET faces), SUVmax, SUVpeak and SUVmean are those of the visible part (SUVmax and SUVpeak lower bounds of the whole
lesion's, strictly, should its hottest part lie outside), MTV and TLG lower bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import SimpleITK as sitk

from wbrad.labelmap import correlate_zero, label_boxes
from wbrad.lesions.extract import face_names

UPTAKE_COLUMNS = ["suvmax", "suvpeak", "suvmean", "mtv_ml", "tlg"]
PEAK_RADIUS_MM = (3 / (4 * np.pi)) ** (1 / 3) * 10  # 1 cm3 sphere: 6.2 mm
METHODS = ("lesion", "relative", "absolute", "percist")


@dataclass(frozen=True)
class Delineation:
    """How the metabolic volume of a lesion is delineated (see the module docstring)."""

    method: str = "lesion"
    relative: float = 0.41
    absolute: float = 4.0
    liver_margin_mm: float = 10.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown PET delineation {self.method!r}; choose one of {METHODS}")


def on_grid(mask: sitk.Image, reference: sitk.Image) -> np.ndarray:
    """``mask`` (a label map or a binary mask) on ``reference``'s grid by nearest neighbour, as a [z, y, x] array."""
    return sitk.GetArrayFromImage(sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                                                mask.GetPixelID()))


def peak_kernel(spacing_xyz: tuple[float, ...], radius_mm: float = PEAK_RADIUS_MM) -> np.ndarray:
    """Boolean [z, y, x] kernel of the voxels whose centres lie within ``radius_mm`` of the centre voxel's."""
    half = [int(radius_mm // s) for s in spacing_xyz[::-1]]
    grid = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    return sum((g * s) ** 2 for g, s in zip(grid, spacing_xyz[::-1], strict=True)) <= radius_mm**2 + 1e-9


def percist_threshold(suv: np.ndarray, liver: np.ndarray, lesions: np.ndarray, spacing_xyz: tuple[float, ...],
                      margin_mm: float) -> float:
    """1.5 x mean + 2 x SD of the SUV in the liver, at least ``margin_mm`` from its border and from any lesion."""
    free = (liver > 0) & (lesions == 0)
    from scipy import ndimage  # only PERCIST delineation needs it (a quarter second to import, issue 16)

    core = ndimage.distance_transform_edt(free, sampling=spacing_xyz[::-1]) >= margin_mm
    if not core.any():
        raise ValueError(f"no liver voxel {margin_mm} mm inside the liver mask and away from lesions: "
                         "no PERCIST reference")
    values = suv[core]
    return float(1.5 * values.mean() + 2 * values.std(ddof=1))


def _centres(labels: sitk.Image, k: int, pet: sitk.Image, lo: np.ndarray, size: np.ndarray) -> np.ndarray:
    """[z, y, x] mask of the PET voxels ``lo`` .. ``lo + size`` (x, y, z indices) whose centre lies in lesion ``k``."""
    grid = sitk.Image([int(n) for n in size], sitk.sitkUInt8)
    grid.SetSpacing(pet.GetSpacing())
    grid.SetDirection(pet.GetDirection())
    grid.SetOrigin(pet.TransformIndexToPhysicalPoint([int(i) for i in lo]))
    return on_grid(labels, grid) == k


def _overlap(image: sitk.Image, start: int, stop: int, pet: sitk.Image, lo: int, hi: int, axis: int) -> np.ndarray:
    """(PET voxels lo..hi) x (image voxels start..stop) share of each PET voxel's extent along ``axis`` that each
    image voxel covers (both grids share their direction)."""
    def edges(img: sitk.Image, a: int, b: int) -> np.ndarray:
        origin = (np.reshape(img.GetDirection(), (3, 3)).T @ img.GetOrigin())[axis]
        return origin + (np.arange(a, b + 1) - 0.5) * img.GetSpacing()[axis]
    mine, theirs = edges(image, start, stop), edges(pet, lo, hi)
    low = np.maximum(theirs[:-1, None], mine[None, :-1])
    high = np.minimum(theirs[1:, None], mine[None, 1:])
    return np.clip(high - low, 0, None) / pet.GetSpacing()[axis]


def _share(labels: sitk.Image, k: int, box: tuple[slice, ...], pet: sitk.Image, lo: np.ndarray,
           size: np.ndarray) -> np.ndarray:
    """[z, y, x] part of each PET voxel ``lo`` .. ``lo + size`` inside lesion ``k`` (of CT box ``box``), exactly:
    voxels of two grids with the same direction overlap axis by axis."""
    lesion = (sitk.GetArrayViewFromImage(labels)[box] == k).astype(float)
    wx, wy, wz = (_overlap(labels, box[2 - a].start, box[2 - a].stop, pet, lo[a], lo[a] + size[a], a)
                  for a in range(3))
    return np.einsum("zc,yb,xa,cba->zyx", wz, wy, wx, lesion, optimize=True)


def _corners(labels: sitk.Image, box: tuple[slice, ...], pet: sitk.Image) -> np.ndarray:
    """(2, 3): the outer corners of a CT [z, y, x] box (voxel edges) as continuous PET x, y, z indices."""
    corners = [labels.TransformContinuousIndexToPhysicalPoint([float(getattr(s, end)) - 0.5 for s in box[::-1]])
               for end in ("start", "stop")]
    return np.array([pet.TransformPhysicalPointToContinuousIndex(c) for c in corners])


def beyond_fov(labels: sitk.Image, box: tuple[slice, ...], pet: sitk.Image, tolerance: float = 1e-3) -> list[str]:
    """The PET faces (``z=0 (inferior)``, ...) beyond which a lesion of CT [z, y, x] box ``box`` reaches: every face
    of a bounding box holds lesion voxels, so a box reaching past the PET's outer voxel edge (by more than
    ``tolerance`` PET voxels) means the lesion does."""
    index = _corners(labels, box, pet)
    low = index.min(axis=0) < -0.5 - tolerance
    high = index.max(axis=0) > np.array(pet.GetSize()) - 0.5 + tolerance
    return face_names(low[::-1], high[::-1], pet.GetSize()[::-1])


def _pet_box(labels: sitk.Image, box: tuple[slice, ...], pet: sitk.Image, pad: np.ndarray) -> tuple[np.ndarray, ...]:
    """(lo, size) in PET x, y, z indices of the PET voxels overlapping a CT [z, y, x] box, grown by ``pad``."""
    index = _corners(labels, box, pet)
    lo = np.maximum(np.floor(index.min(axis=0) + 0.5).astype(int) - pad, 0)
    hi = np.minimum(np.ceil(index.max(axis=0) - 0.5).astype(int) + 1 + pad, pet.GetSize())
    return lo, hi - lo


def _uptake(suv: np.ndarray, centres: np.ndarray, share: np.ndarray, kernel: np.ndarray, threshold: float | None,
            voxel_ml: float) -> dict[str, float]:
    """Uptake of one lesion from its PET box: ``centres`` marks voxels whose centre is in the lesion, ``share`` the
    part of each voxel inside it (the partial-volume weight of MTV, SUVmean and TLG)."""
    weights = kernel.astype(float)
    sums = correlate_zero(suv.astype(float), weights)
    counts = correlate_zero(np.ones_like(suv, float), weights)  # fewer at the image border
    region = share if threshold is None else share * (suv >= threshold)
    mtv = float(region.sum()) * voxel_ml
    return {"suvmax": float(suv[centres].max()), "suvpeak": float((sums / counts)[centres].max()),
            "suvmean": float((region * suv).sum() / region.sum()) if region.any() else np.nan,
            "mtv_ml": mtv, "tlg": float((region * suv).sum()) * voxel_ml}


def lesion_uptake(pet: sitk.Image, labels: sitk.Image, lesion_ids: list[int], delineation: Delineation = Delineation(),
                  liver: sitk.Image | None = None,
                  boxes: Sequence[tuple[slice, ...] | None] | None = None) -> pd.DataFrame:
    """``lesion``, the uptake columns, ``border`` (NA, or the PET faces beyond which the lesion reaches: its values
    are those of the part inside the PET, MTV and TLG lower bounds) and ``reason`` (NA, or why the lesion has no
    values) per requested lesion.

    ``labels`` is the CT lesion map; ``liver`` (a mask on any grid) is needed for ``percist``. SUVmax and SUVpeak are
    over the PET voxels whose centre lies in the lesion; a lesion holding no voxel centre gets NaN values and a
    reason. MTV, SUVmean and TLG weight each PET voxel by the part of its volume inside the lesion, so MTV is the
    lesion's CT volume, not a count of whole PET voxels. With a threshold, a lesion without voxels above it has MTV and
    TLG 0 and SUVmean NaN. ``boxes``: the lesion map's ``label_boxes``, if the caller has it.
    """
    if not np.allclose(pet.GetDirection(), labels.GetDirection(), atol=1e-5):
        raise ValueError(f"PET direction {pet.GetDirection()} differs from the lesion map's {labels.GetDirection()}")
    suv = sitk.GetArrayViewFromImage(pet)
    spacing = pet.GetSpacing()
    threshold: float | None = {"absolute": delineation.absolute, "lesion": None}.get(delineation.method)
    if delineation.method == "percist":
        if liver is None:
            raise ValueError("PERCIST delineation needs the liver mask")
        threshold = percist_threshold(suv, on_grid(liver, pet), on_grid(labels, pet), spacing,
                                      delineation.liver_margin_mm)
    kernel = peak_kernel(spacing)
    pad = np.array(kernel.shape[::-1]) // 2
    boxes = label_boxes(sitk.GetArrayViewFromImage(labels)) if boxes is None else boxes
    rows = []
    for k in lesion_ids:
        box = boxes[k - 1] if 0 < k <= len(boxes) else None
        if box is None:
            rows.append({"lesion": k, "reason": f"label {k} not present in the lesion map"})
            continue
        lo, size = _pet_box(labels, box, pet, pad)
        centres = _centres(labels, k, pet, lo, size)
        if not centres.any():
            rows.append({"lesion": k, "reason": f"lesion {k} holds no PET voxel centre (too small for the PET grid)"})
            continue
        local = suv[tuple(slice(a, a + n) for a, n in zip(lo[::-1], size[::-1], strict=True))]
        if delineation.method == "relative":
            threshold = delineation.relative * float(local[centres].max())
        share = _share(labels, k, box, pet, lo, size)
        rows.append({"lesion": k, **_uptake(local, centres, share, kernel, threshold, float(np.prod(spacing)) / 1000),
                     "border": ", ".join(beyond_fov(labels, box, pet)) or pd.NA})
    table = pd.DataFrame(rows, columns=["lesion", *UPTAKE_COLUMNS, "border", "reason"])
    table[UPTAKE_COLUMNS] = table[UPTAKE_COLUMNS].astype("float64")
    return table
