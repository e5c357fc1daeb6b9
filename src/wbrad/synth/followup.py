"""Follow-ups as a registry has them: the patient repositioned (rigid motion plus a breathing-like deformation),
lesions contoured independently (labels renumbered per scan), and a few lesions that merge or split between scans.

Scans are rendered in the body frame (the baseline's, which is the CT grid as the aligned cohort has it) and then
resampled onto the unchanged CT and PET grids through :class:`Pose`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial.distance import pdist
from scipy.spatial.transform import Rotation

from wbrad.synth.grid import Grid
from wbrad.synth.lesions import Lesion, _local

MAX_SHIFT_MM = (20.0, 10.0, 30.0)  # x, y (the table holds the back), z
MAX_ROTATION_DEG = 3.0  # about each axis
BREATH_MM = (3.0, 6.0)  # largest displacement along y and z, at the diaphragm on the body axis
BREATH_SIGMA_MM = (70.0, 160.0)  # extent of the displacement along z (about the diaphragm) and across the trunk
EVENT_SHARE = {"merged": 0.09, "split": 0.06}  # of the patients with 2+ lesions and a follow-up
MERGE_GAP_MM = 40.0  # two lesions merge only when their surfaces are this close along the line of their centres


@dataclass(frozen=True)
class Pose:
    """Where the body lies in one follow-up scan. A baseline-frame point p maps to the scan-frame point q with
    ``q + d(q) = R (p - centre) + centre + translation``: the rigid motion, then the breathing displacement ``-d``
    (``d`` as given by :meth:`displacement`, in the scan frame, at most :attr:`max_displacement_mm`)."""

    rotation_deg: tuple[float, float, float]  # extrinsic x, y, z
    translation_mm: tuple[float, float, float]
    centre_mm: tuple[float, float, float]
    breath_mm: tuple[float, float]  # y, z
    diaphragm_z: float

    @property
    def matrix(self) -> np.ndarray:
        return Rotation.from_euler("xyz", self.rotation_deg, degrees=True).as_matrix()

    @property
    def max_displacement_mm(self) -> float:
        return float(math.hypot(*self.breath_mm))

    def rigid(self, points: np.ndarray) -> np.ndarray:
        """The rigid part of the map, baseline to scan frame, of ``(..., 3)`` points (x, y, z mm)."""
        return (np.asarray(points) - self.centre_mm) @ self.matrix.T + self.centre_mm + self.translation_mm

    def displacement(self, x, y, z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``d`` at scan-frame points: smooth, mostly along z (and y) around the diaphragm, fading across the trunk."""
        sz, sxy = BREATH_SIGMA_MM
        g = np.exp(-0.5 * ((z - self.diaphragm_z) / sz) ** 2 - 0.5 * (x**2 + y**2) / sxy**2)
        return np.zeros_like(g), self.breath_mm[0] * g, self.breath_mm[1] * g

    def to_body(self, x, y, z) -> np.ndarray:
        """Baseline-frame points (stacked x, y, z on the last axis) of scan-frame coordinates."""
        dx, dy, dz = self.displacement(x, y, z)
        moved = np.stack(np.broadcast_arrays(x + dx, y + dy, z + dz), -1)
        return (moved - self.centre_mm - self.translation_mm) @ self.matrix + self.centre_mm

    def to_scan(self, point: np.ndarray) -> np.ndarray:
        """The scan-frame position of a baseline-frame point (the exact map, solved by fixed-point iteration)."""
        target = self.rigid(point)
        q = target
        for _ in range(20):
            q = target - np.array(self.displacement(*q))
        return q

    def as_dict(self) -> dict:
        return {"maps": "a point (x, y, z mm) of the baseline frame to this scan's frame: q + d(q) = "
                        "matrix @ (p - centre_mm) + centre_mm + translation_mm, d the breathing displacement",
                "rotation_deg": _round(self.rotation_deg), "euler": "extrinsic xyz",
                "matrix": [_round(row, 6) for row in self.matrix], "centre_mm": _round(self.centre_mm),
                "translation_mm": _round(self.translation_mm),
                "deformation": {"max_displacement_mm": round(self.max_displacement_mm, 3),
                                "peak_yz_mm": _round(self.breath_mm), "at_z_mm": round(self.diaphragm_z, 1)}}


def _round(values, digits: int = 3) -> list[float]:
    return [round(float(v), digits) for v in values]


def draw_pose(rng: np.random.Generator, grid: Grid, diaphragm_z: float) -> Pose:
    """Uniform shifts up to ``MAX_SHIFT_MM``, rotations up to ``MAX_ROTATION_DEG`` per axis about the field's
    centre, breathing peaks up to ``BREATH_MM`` either way."""
    centre = tuple(float(o + s * (n - 1) / 2) for o, s, n in zip(grid.origin_mm, grid.spacing_mm, grid.shape,
                                                                  strict=True))
    shift = tuple(float(v) for v in rng.uniform(-1, 1, 3) * MAX_SHIFT_MM)
    angles = tuple(float(v) for v in rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, 3))
    breath = tuple(float(v) for v in rng.uniform(-1, 1, 2) * BREATH_MM)
    return Pose(angles, shift, centre, breath, diaphragm_z)


def sampling(pose: Pose, grid: Grid, body: Grid | None = None) -> np.ndarray:
    """Continuous ``[z, y, x]`` indices on the body-frame grid ``body`` (default ``grid``) of every voxel centre of
    the scan's ``grid``, for ``ndimage.map_coordinates``."""
    body = body or grid
    z, y, x = grid.axes()
    index = (pose.to_body(x, y, z) - body.origin_mm) / body.spacing_mm
    return np.moveaxis(index[..., ::-1], -1, 0)


def finer(grid: Grid, factors: tuple[int, int, int]) -> Grid:
    """``grid`` with each voxel split into ``factors`` (x, y, z) sub-voxels, centred on it: rendering a moved scan's
    body frame on it and sampling it nearest at the scan's voxel centres misses them by a fraction of a voxel."""
    return Grid(tuple(s / k for s, k in zip(grid.spacing_mm, factors, strict=True)),
                tuple(n * k for n, k in zip(grid.shape, factors, strict=True)),
                tuple(o - s * (k - 1) / (2 * k) for o, s, k in zip(grid.origin_mm, grid.spacing_mm, factors,
                                                                   strict=True)))


def resample(array: np.ndarray, coords: np.ndarray, linear: bool) -> np.ndarray:
    """``array`` seen through the pose: linear for intensities, nearest neighbour for labels; edges extended."""
    return ndimage.map_coordinates(array, coords, order=int(linear), mode="nearest", output=array.dtype)


@dataclass(frozen=True)
class Mark:
    """One mask as written in a scan: the lesions it holds (two when merged) and, for a split lesion, which half
    (+1 or -1; 0 for a whole lesion)."""

    lesions: tuple[Lesion, ...]
    body: tuple[int, ...]  # labels painted in the body frame for it
    half: int = 0


@dataclass
class Events:
    """A patient's merge (two lesion labels) and split (one label), each from a follow-up on."""

    merged: tuple[int, int] | None = None
    split: int | None = None
    since: dict[str, str] = field(default_factory=dict)  # event -> first follow-up

    def active(self, event: str, timepoint: str, order: list[str]) -> bool:
        return event in self.since and order.index(timepoint) >= order.index(self.since[event])


def ellipsoid_matrix(lesion: Lesion, scale: float) -> np.ndarray:
    """``A`` with ``x^T A x <= 1`` inside the lesion (x from its centre, body frame)."""
    return lesion.rotation @ np.diag(1 / (lesion.semi_mm * scale) ** 2) @ lesion.rotation.T


def _reach(lesion: Lesion, scale: float, direction: np.ndarray) -> float:
    """Distance from the centre to the lesion's surface along a unit direction."""
    return float(1 / math.sqrt(direction @ ellipsoid_matrix(lesion, scale) @ direction))


def split_normal(lesion: Lesion, scale: float) -> np.ndarray:
    """The split plane's normal: horizontal, along the major axis of the lesion's central axial section."""
    values, vectors = np.linalg.eigh(ellipsoid_matrix(lesion, scale)[:2, :2])
    return np.array([*vectors[:, 0], 0.0])


def _merge_pair(lesions: list[Lesion], timepoint: str) -> tuple[int, int] | None:
    """The two lesions of one site whose surfaces are closest (under ``MERGE_GAP_MM``), no third one near them."""
    best, pair = MERGE_GAP_MM, None
    present = [le for le in lesions if timepoint in le.scale and "baseline" in le.scale]
    for i, a in enumerate(present):
        for b in present[i + 1:]:
            line = np.asarray(b.centre_mm) - a.centre_mm
            length = float(np.linalg.norm(line))
            u = line / length
            gap = length - _reach(a, a.scale[timepoint], u) - _reach(b, b.scale[timepoint], -u)
            if a.site == b.site and gap < best and not _near_segment(present, a, b):
                best, pair = gap, (a.label, b.label)
    return pair


def _near_segment(lesions: list[Lesion], a: Lesion, b: Lesion, margin_mm: float = 10.0) -> bool:
    """Another lesion lies within ``margin_mm`` of the segment between the centres of ``a`` and ``b``."""
    for other in lesions:
        if other is a or other is b:
            continue
        if _segment_distance(np.asarray(other.centre_mm), a.centre_mm, b.centre_mm) < other.envelope * float(
                np.max(other.semi_mm)) + margin_mm:
            return True
    return False


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (mm) of points (``(..., 3)``) to the segment from ``a`` to ``b``."""
    ab = np.asarray(b) - a
    t = np.clip(((points - a) @ ab) / float(ab @ ab), 0, 1)
    return np.linalg.norm(points - a - t[..., None] * ab, axis=-1)


def _split_candidate(lesions: list[Lesion], timepoint: str, min_semi_mm: float) -> int | None:
    """The largest lesion at ``timepoint`` whose smallest semi-axis is at least ``min_semi_mm``."""
    fits = [le for le in lesions if timepoint in le.scale and "baseline" in le.scale
            and float(np.min(le.semi_mm)) * le.scale[timepoint] >= min_semi_mm]
    return max(fits, key=lambda le: le.volume_mm3(timepoint)).label if fits else None


def plan_events(rng: np.random.Generator, lesions: list[Lesion], followups: list[str], grid: Grid) -> Events:
    """Draw whether a patient with 2+ lesions has a merge or a split (``EVENT_SHARE``) and at which follow-up; a
    patient drawn for one event that has no candidate for it gets the other where it can."""
    events = Events()
    if len(lesions) < 2 or not followups:
        return events
    u, timepoint = rng.random(), followups[int(rng.integers(len(followups)))]
    if u >= sum(EVENT_SHARE.values()):
        return events
    order = ("merged", "split") if u < EVENT_SHARE["merged"] else ("split", "merged")
    for event in order:
        if event == "merged":
            events.merged = _merge_pair(lesions, timepoint)
        else:
            events.split = _split_candidate(lesions, timepoint, 2.5 * grid.spacing_mm[0])
        if getattr(events, event):
            events.since[event] = timepoint
            break
    return events


def gap_mm(grid: Grid) -> float:
    """Width of the gap through a split lesion: 1.5 in-plane voxels."""
    return 1.5 * grid.spacing_mm[0]


def paint_split(lesion: Lesion, scale: float, grid: Grid, label: np.ndarray, hu: np.ndarray, tissue_hu: np.ndarray,
                fragment: int) -> None:
    """Cut the lesion in two through its centre: the gap (``gap_mm``) gets the tissue's HU and label 0, the half
    on the normal's side the label ``fragment``."""
    box, _ = _local(lesion, grid, scale)
    side = _side(lesion, scale, grid, box)
    mine = label[box] == lesion.label
    gap = mine & (np.abs(side) < gap_mm(grid) / 2)
    label[box][gap] = 0
    hu[box][gap] = tissue_hu[box][gap]
    label[box][mine & (side >= gap_mm(grid) / 2)] = fragment


def split_owner(lesion: Lesion, scale: float, grid: Grid, owner: np.ndarray, fragment: int) -> None:
    """Give the PET voxels of the lesion's half on the normal's side to ``fragment``."""
    box, _ = _local(lesion, grid, scale, pad_mm=0.5 * float(np.max(lesion.semi_mm)) * scale)
    side = _side(lesion, scale, grid, box)
    owner[box][(owner[box] == lesion.label) & (side >= 0)] = fragment


def _side(lesion: Lesion, scale: float, grid: Grid, box: tuple[slice, ...]) -> np.ndarray:
    """Signed distance (mm) of the box's voxel centres from the split plane."""
    z, y, x = (axis[s] for axis, s in zip(grid.axes(), _broadcast(box), strict=True))
    n = split_normal(lesion, scale)
    c = lesion.centre_mm
    return n[0] * (x - c[0]) + n[1] * (y - c[1]) + n[2] * (z - c[2])


def _broadcast(box: tuple[slice, ...]) -> tuple[tuple, tuple, tuple]:
    return (box[0], slice(None), slice(None)), (slice(None), box[1], slice(None)), (slice(None), slice(None), box[2])


def paint_bridge(a: Lesion, b: Lesion, timepoint: str, grid: Grid, label: np.ndarray, hu: np.ndarray) -> None:
    """Join two lesions into one mask: a capsule of lesion tissue between their centres (label ``a``) where no
    lesion is."""
    radius = max(0.5 * min(float(np.min(le.semi_mm)) * le.scale[timepoint] for le in (a, b)),
                 0.6 * max(grid.spacing_mm))
    lo = np.minimum(a.centre_mm, b.centre_mm) - radius
    hi = np.maximum(a.centre_mm, b.centre_mm) + radius
    start = np.maximum(np.floor((lo - grid.origin_mm) / grid.spacing_mm), 0).astype(int)
    stop = np.minimum(np.ceil((hi - grid.origin_mm) / grid.spacing_mm) + 1, grid.shape).astype(int)
    box = tuple(slice(i, j) for i, j in zip(start[::-1], stop[::-1], strict=True))
    z, y, x = (axis[s] for axis, s in zip(grid.axes(), _broadcast(box), strict=True))
    points = np.stack(np.broadcast_arrays(x, y, z), -1)
    bridge = (_segment_distance(points, a.centre_mm, b.centre_mm) <= radius) & (label[box] == 0)
    label[box][bridge] = a.label
    hu[box][bridge] = (a.hu + b.hu) / 2


def axial_diameters(lesion: Lesion, scale: float, matrix: np.ndarray, half: int = 0,
                    gap: float = 0.0) -> tuple[float, float]:
    """RECIST long and short axis (mm) of the continuous lesion as it lies in a scan rotated by ``matrix``: the
    longest diameter of its central axial section and the longest one perpendicular to it (Eisenhauer et al., Eur J
    Cancer 2009, RECIST 1.1, section 3); of one half (``half`` = +-1) beyond a gap of ``gap`` mm for a split lesion."""
    section = (matrix @ ellipsoid_matrix(lesion, scale) @ matrix.T)[:2, :2]
    values, vectors = np.linalg.eigh(section)
    if not half:
        return float(2 / math.sqrt(values[0])), float(2 / math.sqrt(values[1]))
    normal = (matrix @ split_normal(lesion, scale))[:2] * half
    t = np.linspace(0, 2 * math.pi, 1441)
    arc = (vectors / np.sqrt(values)) @ np.stack([np.cos(t), np.sin(t)])
    arc = arc[:, normal @ arc >= gap / 2].T
    long = float(pdist(arc).max())
    return long, _widest_chord(section, normal, gap / 2, arc)


def _widest_chord(section: np.ndarray, normal: np.ndarray, offset: float, arc: np.ndarray) -> float:
    """Longest chord of {x^T S x <= 1, normal . x >= offset} perpendicular to the region's longest diameter."""
    distances = np.linalg.norm(arc[:, None] - arc[None], axis=-1)
    i, j = np.unravel_index(distances.argmax(), distances.shape)
    u = (arc[j] - arc[i]) / distances[i, j]
    v = np.array([-u[1], u[0]])
    s = np.linspace((arc @ u).min(), (arc @ u).max(), 2001)
    a, b, c = v @ section @ v, 2 * s * (u @ section @ v), s**2 * (u @ section @ u) - 1
    root = np.sqrt(np.clip(b**2 - 4 * a * c, 0, None))
    lo, hi = (-b - root) / (2 * a), (-b + root) / (2 * a)
    nv, nu = normal @ v, normal @ u
    bound = (offset - s * nu) / nv if abs(nv) > 1e-12 else np.full_like(s, -np.inf)
    lo, hi = (np.maximum(lo, bound), hi) if nv > 0 else (lo, np.minimum(hi, bound))
    return float(np.clip(hi - lo, 0, None).max())


def half_centre(lesion: Lesion, scale: float, half: int) -> np.ndarray:
    """Centroid (body frame) of the half ellipsoid on the ``half`` side of the split plane (gap neglected)."""
    inverse = np.linalg.inv(ellipsoid_matrix(lesion, scale))
    n = split_normal(lesion, scale) * half
    return np.asarray(lesion.centre_mm) + 3 / 8 * inverse @ n / math.sqrt(n @ inverse @ n)


def _box(mask: np.ndarray, pad: int) -> tuple[slice, ...]:
    """The bounding box of ``mask``'s voxels, ``pad`` voxels wider, within the array."""
    hit = np.nonzero(mask)
    return tuple(slice(max(int(i.min()) - pad, 0), min(int(i.max()) + pad + 1, n)) for i, n in zip(hit, mask.shape,
                                                                                                    strict=True))


def _inside(lesion: Lesion, scale: float, pose: Pose, grid: Grid, box: tuple[slice, ...]) -> np.ndarray:
    """Which voxel centres of the scan ``box`` lie inside the lesion (its ellipsoid in the body frame)."""
    z, y, x = (axis[tuple(s if a == k else slice(None) for a in range(3))]
               for k, (axis, s) in enumerate(zip(grid.axes(), box, strict=True)))
    offset = pose.to_body(x, y, z) - np.asarray(lesion.centre_mm)
    return np.einsum("...i,ij,...j->...", offset, ellipsoid_matrix(lesion, scale), offset) <= 1


def contour_in_scan(moved_map: np.ndarray, hu: np.ndarray, tissue_hu: np.ndarray, whole: dict[int, Lesion],
                    timepoint: str, pose: Pose, grid: Grid) -> None:
    """Redraw each whole lesion's mask in the scan frame, in place: the voxels whose centre the pose maps inside the
    lesion, as a reader contours the lesion the scan shows, instead of the body-frame mask sampled nearest (whose
    outline is then a voxel grid seen through another, a voxel's width off in places). ``whole`` maps a body-frame
    label to its lesion (merged and split masks keep the sampled outline). Voxels a mask gains take the HU of the
    lesion's nearest voxel, voxels it loses that of the tissue (``tissue_hu``, the moved CT without lesions)."""
    for label, lesion in whole.items():
        was = moved_map == label
        if not was.any():
            continue
        box = _box(was, 2)
        local, before = moved_map[box], was[box]
        now = _inside(lesion, lesion.scale[timepoint], pose, grid, box) & ((local == 0) | before)
        if not now.any():
            continue
        nearest = ndimage.distance_transform_edt(~before, return_distances=False, return_indices=True)
        values, gained, lost = hu[box], now & ~before, before & ~now
        values[gained] = values[tuple(i[gained] for i in nearest)]
        values[lost] = tissue_hu[box][lost]
        local[before & ~now] = 0
        local[now] = label
