"""Metastases: ellipsoids with a per-patient growth rate, placed in their organ, rendered as labels, HU and SUV."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from wbrad.synth.grid import Grid
from wbrad.synth.phantom import LUNG, Tissue

SITES = ("liver", "lung", "lymph_node", "subcutaneous")
SITE_WEIGHTS = (0.3, 0.25, 0.3, 0.15)
MAX_RADIUS_MM = {"liver": 22.0, "lung": 18.0, "lymph_node": 14.0, "subcutaneous": 11.0}
MIN_RADIUS_MM = 4.0  # 8 mm diameter
VANISH_RADIUS_MM = 2.5  # a lesion shrunk below this mean radius has disappeared for good
WEEKS12 = 84.0


@dataclass(eq=False)
class Lesion:
    """One lesion: shape at scale 1, linear scale per timepoint (absent = not there), texture and uptake."""

    label: int
    site: str
    semi_mm: np.ndarray  # semi-axes at scale 1
    rotation: np.ndarray  # 3x3, columns are the semi-axes' directions (x, y, z)
    growth: float  # log volume change per 12 weeks
    hu: float
    rim_hu: float
    necrotic: bool
    suv_peak: float
    scale: dict[str, float] = field(default_factory=dict)
    centre_mm: np.ndarray | None = None  # x, y, z; set by place_lesions
    born: float = 0.0  # day (since baseline) the lesion is first seen at scale 1
    gone: bool = False

    def volume_mm3(self, timepoint: str) -> float:
        """Volume of the continuous ellipsoid."""
        return 4 / 3 * math.pi * float(np.prod(self.semi_mm)) * self.scale[timepoint] ** 3

    @property
    def envelope(self) -> float:
        return max(self.scale.values())


def site_max_radius(site: str, sat_mm: float) -> float:
    return min(MAX_RADIUS_MM[site], 0.42 * sat_mm) if site == "subcutaneous" else MAX_RADIUS_MM[site]


def sample_lesion(rng: np.random.Generator, label: int, site: str, growth: float, sat_mm: float,
                  radius_mm: float | None = None) -> Lesion:
    """A lesion with a mean radius drawn log-uniformly from 4 mm to 80 % of its site's maximum."""
    top = site_max_radius(site, sat_mm)
    radius = radius_mm or math.exp(rng.uniform(math.log(MIN_RADIUS_MM), math.log(max(0.8 * top, MIN_RADIUS_MM + 0.5))))
    shape = rng.uniform(0.8, 1.25, 3)
    semi = radius * shape / np.prod(shape) ** (1 / 3)
    necrotic = radius > 11 and rng.random() < 0.7
    base = {"liver": 38, "lung": 35, "lymph_node": 42, "subcutaneous": 40}[site]
    return Lesion(label, site, semi, Rotation.random(random_state=rng).as_matrix(), growth + rng.normal(0, 0.25),
                  hu=base + rng.normal(0, 6), rim_hu=rng.uniform(75, 110), necrotic=necrotic,
                  suv_peak=float(math.exp(rng.uniform(math.log(4.5), math.log(16.0)))))


def sample_baseline_lesions(rng: np.random.Generator, growth: float, sat_mm: float) -> list[Lesion]:
    """1 to 10 lesions (fewer more likely) at liver, lung, lymph node and subcutaneous sites."""
    count = int(rng.choice(np.arange(1, 11), p=_geometric(10, 0.78)))
    weights = np.array(SITE_WEIGHTS)
    if site_max_radius("subcutaneous", sat_mm) < MIN_RADIUS_MM + 0.5:
        weights[SITES.index("subcutaneous")] = 0
    sites = rng.choice(SITES, size=count, p=weights / weights.sum())
    lesions = [sample_lesion(rng, k + 1, str(site), growth, sat_mm) for k, site in enumerate(sites)]
    for lesion in lesions:
        lesion.scale["baseline"] = 1.0
    return lesions


def _geometric(n: int, q: float) -> np.ndarray:
    p = q ** np.arange(n)
    return p / p.sum()


def evolve(rng: np.random.Generator, lesions: list[Lesion], followups: list[tuple[str, float]], growth: float,
           sat_mm: float) -> list[Lesion]:
    """Scale every lesion at each follow-up (days since baseline); lesions vanish when small, new ones may appear."""
    lesions = list(lesions)
    for timepoint, day in followups:
        for lesion in lesions:
            if lesion.gone:
                continue
            cap = site_max_radius(lesion.site, sat_mm) / float(np.max(lesion.semi_mm))
            scale = min(math.exp(lesion.growth * (day - lesion.born) / WEEKS12 / 3), max(cap, 1.0))
            if float(np.prod(lesion.semi_mm)) ** (1 / 3) * scale < VANISH_RADIUS_MM or rng.random() < 0.04:
                lesion.gone = True
            else:
                lesion.scale[timepoint] = scale
        if growth > 0.15 and rng.random() < min(0.8, growth):  # progression: new lesions
            for _ in range(int(rng.integers(1, 3))):
                new = sample_lesion(rng, len(lesions) + 1, str(rng.choice(SITES[:3])), growth, sat_mm,
                                    radius_mm=rng.uniform(MIN_RADIUS_MM, 6.5))
                new.born = day
                new.scale[timepoint] = 1.0
                lesions.append(new)
    return lesions


def site_masks(labels: list[np.ndarray], grid: Grid, aorta_mm: float = 45.0) -> dict[str, np.ndarray]:
    """Where each site's lesions may lie at every timepoint (intersection over the timepoints' label volumes)."""
    masks = {}
    for site in SITES:
        per_tp = []
        for lab in labels:
            if site == "liver":
                m = lab == Tissue.LIVER
            elif site == "lung":
                m = np.isin(lab, [int(t) for t in LUNG])
            elif site == "subcutaneous":
                m = lab == Tissue.SAT
            else:
                arteries = (Tissue.AORTA, Tissue.ILIAC_ARTERY_LEFT, Tissue.ILIAC_ARTERY_RIGHT)
                vessels = np.isin(lab, [int(t) for t in arteries])
                pad = np.ceil(aorta_mm / np.array(grid.spacing_mm[::-1])).astype(int)
                near = np.zeros(lab.shape, bool)
                box = _crop(vessels, pad)
                near[box] = ndimage.distance_transform_edt(~vessels[box], sampling=grid.spacing_mm[::-1]) <= aorta_mm
                m = (lab == Tissue.VAT) & near & ~np.isin(lab, [int(t) for t in LUNG]).any((1, 2))[:, None, None]
            per_tp.append(m)
        mask = np.logical_and.reduce(per_tp)
        mask[[0, -1]] = False  # fully inside the field
        masks[site] = mask
    return masks


def _crop(mask: np.ndarray, pad) -> tuple[slice, ...]:
    """Bounding box of ``mask`` grown by ``pad`` voxels per axis (clipped to the array)."""
    pad = np.broadcast_to(pad, (mask.ndim,))
    found = ndimage.find_objects(mask.astype(np.uint8))
    if not found:
        return tuple(slice(0, 0) for _ in mask.shape)
    return tuple(
        slice(max(s.start - p, 0), min(s.stop + p, n)) for s, p, n in zip(found[0], pad, mask.shape, strict=True)
    )


def _depth(mask: np.ndarray, spacing_zyx) -> np.ndarray:
    """Distance (mm) from each voxel of ``mask`` to the nearest voxel outside it."""
    depth = np.zeros(mask.shape)
    box = _crop(mask, 1)
    depth[box] = ndimage.distance_transform_edt(mask[box], sampling=spacing_zyx)
    return depth


def _local(lesion: Lesion, grid: Grid, scale: float, pad_mm: float = 0.0):
    """Bounding-box slices around the lesion and the normalised ellipsoid radius of the box's voxel centres."""
    extent = float(np.max(lesion.semi_mm)) * scale + pad_mm
    centre = np.asarray(lesion.centre_mm)
    lo = np.floor((centre - extent - grid.origin_mm) / grid.spacing_mm).astype(int)
    hi = np.ceil((centre + extent - grid.origin_mm) / grid.spacing_mm).astype(int) + 1
    lo, hi = np.maximum(lo, 0), np.minimum(hi, grid.shape)
    box = tuple(slice(a, b) for a, b in zip(lo[::-1], hi[::-1], strict=True))
    pts = [
        o + s * np.arange(a, b) - c
        for o, s, a, b, c in zip(grid.origin_mm, grid.spacing_mm, lo, hi, centre, strict=True)
    ]
    x, y, z = np.meshgrid(*pts, indexing="ij")
    d = np.stack([x, y, z], -1) @ lesion.rotation  # coordinates along the semi-axes
    q = np.sqrt(((d / (lesion.semi_mm * scale)) ** 2).sum(-1))
    return box, q.transpose(2, 1, 0)  # [z, y, x]


def place_lesions(
    rng: np.random.Generator, lesions: list[Lesion], masks: dict[str, np.ndarray], grid: Grid, tries: int = 400
) -> list[Lesion]:
    """Give each lesion a centre where its largest extent lies in its site, 2 voxels from every other lesion.

    Larger lesions go first. A lesion that does not fit is shrunk (x0.8, three times at most), then left out.
    """
    blocked = np.zeros(grid.array_shape, bool)
    depth = {site: _depth(masks[site], grid.spacing_mm[::-1]) for site in {le.site for le in lesions}}
    placed = []
    for lesion in sorted(lesions, key=lambda le: -float(np.max(le.semi_mm)) * le.envelope):
        for _shrink in range(4):
            radius = float(np.max(lesion.semi_mm)) * lesion.envelope
            candidates = np.argwhere((depth[lesion.site] >= 0.8 * radius) & ~blocked)
            ok = False
            for idx in (
                candidates[rng.integers(0, len(candidates), min(tries, len(candidates)))] if len(candidates) else []
            ):
                lesion.centre_mm = (
                    np.asarray(grid.origin_mm) + (idx[::-1] + rng.uniform(-0.5, 0.5, 3)) * grid.spacing_mm
                )
                box, q = _local(lesion, grid, lesion.envelope)
                inside = q <= 1
                full = _local_fits(lesion, grid)
                if full and masks[lesion.site][box][inside].all() and not blocked[box][inside].any():
                    ok = True
                    break
            if ok:
                break
            lesion.semi_mm = lesion.semi_mm * 0.8
        if not ok:
            continue
        box, q = _local(lesion, grid, lesion.envelope, pad_mm=2.5 * max(grid.spacing_mm))
        blocked[box] |= ndimage.binary_dilation(q <= 1, np.ones((5, 5, 5), bool))  # keeps 2 voxels between lesions
        placed.append(lesion)
    return sorted(placed, key=lambda le: le.label)


def _local_fits(lesion: Lesion, grid: Grid) -> bool:
    """The lesion's bounding box is inside the field (not clipped by it)."""
    extent = float(np.max(lesion.semi_mm)) * lesion.envelope
    lo = (lesion.centre_mm - extent - grid.origin_mm) / grid.spacing_mm
    hi = (lesion.centre_mm + extent - grid.origin_mm) / grid.spacing_mm
    return bool((lo >= 0).all() and (hi <= np.subtract(grid.shape, 1)).all())


MIN_SEGMENTED_VOXELS = 10  # a reader does not segment a lesion of a few voxels (under ~5 mm at demo spacing)


def render_lesions(
    lesions: list[Lesion], timepoint: str, grid: Grid, hu: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Lesion label map (uint16) at a timepoint; writes the lesions' HU (rim, necrotic core, texture) into ``hu``."""
    label = np.zeros(grid.array_shape, np.uint16)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, grid.array_shape).astype(np.float32), 1.2) * 3.0
    for lesion in lesions:
        if timepoint not in lesion.scale:
            continue
        box, q = _local(lesion, grid, lesion.scale[timepoint])
        inside = q <= 1
        value = np.where(q > 0.8, lesion.rim_hu, lesion.hu)
        if lesion.necrotic:
            value = np.where(q < 0.45, lesion.hu - 25, value)
        value = value + 12 * texture[box] / max(float(texture.std()), 1e-6) / 3
        label[box][inside] = lesion.label
        hu[box][inside] = value[inside]
    counts = np.bincount(label.ravel())
    label[(counts < MIN_SEGMENTED_VOXELS)[label] & (label > 0)] = 0  # visible in the CT, too small to be segmented
    return label


def uptake(lesion: Lesion, q: np.ndarray) -> np.ndarray:
    """SUV profile over the normalised radius: hot plateau, lower rim, cold necrotic core, a halo to r = 1.5."""
    peak = lesion.suv_peak
    value = np.where(q < 0.5, peak, peak * (1 - 0.5 * (q - 0.5)))  # 0.75 peak at the edge
    if lesion.necrotic:
        value = np.where(q < 0.3, 1.2, value)
    halo = 0.75 * peak * np.clip((1.5 - q) / 0.5, 0, 1)
    return np.where(q <= 1, value, halo)
