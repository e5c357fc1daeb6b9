"""A chest-abdomen-pelvis phantom of elliptic cylinders and ellipsoids: tissue labels, then HU. It has no head (the
field runs from the pelvis to the upper chest), so no brain.

Coordinates are mm on the image grid (LPS): x towards the patient's left, y towards the back, z towards the head.
Every muscle's cross-section is constant over each vertebra's z-range, so the L3 muscle area is known exactly:
``l3_muscle_area_mm2`` is computed from the geometry, never by counting voxels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from wbrad.synth.grid import Grid


class Tissue(IntEnum):
    AIR = 0
    SAT = 1
    VAT = 2
    WALL = 3  # abdominal / chest wall muscle ring
    AUTOCHTHON_LEFT = 4
    AUTOCHTHON_RIGHT = 5
    ILIOPSOAS_LEFT = 6
    ILIOPSOAS_RIGHT = 7
    BOWEL = 8
    LUNG_UPPER_LOBE_LEFT = 9
    LUNG_LOWER_LOBE_LEFT = 10
    LUNG_UPPER_LOBE_RIGHT = 11
    LUNG_MIDDLE_LOBE_RIGHT = 12
    LUNG_LOWER_LOBE_RIGHT = 13
    HEART = 14
    LIVER = 15
    SPLEEN = 16
    KIDNEY_LEFT = 17
    KIDNEY_RIGHT = 18
    AORTA = 19
    ILIAC_ARTERY_LEFT = 20
    ILIAC_ARTERY_RIGHT = 21
    DISC = 22
    URINARY_BLADDER = 23
    VERTEBRA = 40  # vertebra k (bottom-up, see VERTEBRAE) has label VERTEBRA + k


MUSCLE = (Tissue.WALL, Tissue.AUTOCHTHON_LEFT, Tissue.AUTOCHTHON_RIGHT, Tissue.ILIOPSOAS_LEFT, Tissue.ILIOPSOAS_RIGHT)
LUNG = tuple(t for t in Tissue if t.name.startswith("LUNG"))

# name, body height, disc gap above (mm at scale 1), vertebral body semi-axes x, y (mm); bottom-up
VERTEBRAE: tuple[tuple[str, float, float, float, float], ...] = (
    ("sacrum", 80.0, 5.0, 40.0, 18.0),
    ("vertebrae_S1", 28.0, 8.0, 28.0, 18.0),
    ("vertebrae_L5", 30.0, 8.0, 26.0, 18.0),
    ("vertebrae_L4", 30.0, 8.0, 25.0, 17.5),
    ("vertebrae_L3", 30.0, 8.0, 24.0, 17.0),
    ("vertebrae_L2", 30.0, 8.0, 23.0, 16.5),
    ("vertebrae_L1", 29.0, 7.0, 22.0, 16.0),
    ("vertebrae_T12", 24.0, 6.0, 20.0, 15.0),
    ("vertebrae_T11", 23.0, 6.0, 19.0, 14.5),
    ("vertebrae_T10", 22.0, 6.0, 19.0, 14.0),
    ("vertebrae_T9", 22.0, 6.0, 18.0, 14.0),
    ("vertebrae_T8", 22.0, 6.0, 18.0, 14.0),
    ("vertebrae_T7", 22.0, 6.0, 18.0, 14.0),
    ("vertebrae_T6", 22.0, 6.0, 18.0, 14.0),
    ("vertebrae_T5", 22.0, 6.0, 18.0, 14.0),
)
VERTEBRA_INDEX = {name: k for k, (name, *_rest) in enumerate(VERTEBRAE)}
SACRUM_BOTTOM_MM = -30.0  # below the field: the sacrum is cut by the image's lower edge
# iliopsoas area relative to L3 per vertebra (absent above T12)
PSOAS_FACTOR = {"sacrum": 1.35, "vertebrae_S1": 1.35, "vertebrae_L5": 1.3, "vertebrae_L4": 1.18, "vertebrae_L3": 1.0,
                "vertebrae_L2": 0.75, "vertebrae_L1": 0.45, "vertebrae_T12": 0.22}
GAP_MM = 3.0  # margin kept between muscles, bones and the cavity wall


@dataclass(frozen=True)
class Anatomy:
    """One patient's body: sizes (mm, mm2) and tissue HU. Muscle areas are at muscle scale 1."""

    scale_z: float
    body_a: float  # skin semi-axes, x and y
    body_b: float
    sat_mm: float
    wall_area: float  # abdominal wall ring, mm2
    para_area: float  # one autochthon, mm2
    psoas_area: float  # one iliopsoas at L3, mm2
    vat_fraction: float  # share of the free abdominal cavity that is fat (the rest is bowel)
    muscle_hu: float
    sat_hu: float
    vat_hu: float
    liver_hu: float
    bone_hu: float  # trabecular
    noise_hu: float
    centre_mm: tuple[float, float]  # body axis (x, y) on the grid: off the lattice's symmetry, as a patient lies

    def l3_muscle_area_mm2(self, muscle_scale: float = 1.0) -> float:
        """Analytic skeletal muscle area on any axial slice through vertebrae_L3."""
        return muscle_scale * (self.wall_area + 2 * self.para_area + 2 * self.psoas_area)


def sample_anatomy(rng: np.random.Generator, sex: str, height_cm: float, weight_kg: float, age: float) -> Anatomy:
    """Body size from height and weight; L3 skeletal muscle index (35..65 cm2/m2) linked to sex and BMI."""
    male = sex == "M"
    bmi = weight_kg / (height_cm / 100) ** 2
    waist = (3.0 * bmi + 14 if male else 2.6 * bmi + 18) * 10 * rng.normal(1, 0.03)  # circumference, mm
    ratio = rng.uniform(1.35, 1.5) if male else rng.uniform(1.3, 1.42)
    b = waist / (math.pi * (3 * (ratio + 1) - math.sqrt((3 * ratio + 1) * (ratio + 3))))  # Ramanujan
    a = min(ratio * b, 190.0)
    b = min(b, 148.0)
    sat = (6 + 1.6 * (bmi - 18) if male else 8 + 2.2 * (bmi - 18)) * rng.normal(1, 0.12)
    sat = float(np.clip(sat, 6, 0.3 * b))
    smi = (52 + 0.8 * (bmi - 25) + rng.normal(0, 6)) if male else (41 + 0.7 * (bmi - 25) + rng.normal(0, 5))
    sma = float(np.clip(smi, 33, 67)) * (height_cm / 100) ** 2 * 100  # mm2
    psoas, para = rng.uniform(0.06, 0.08), rng.uniform(0.14, 0.18)
    vat = 0.35 + 0.03 * (bmi - 25) + (0.08 if male else 0.0) + rng.normal(0, 0.08)
    muscle_hu = 52 - 0.25 * (age - 40) - 0.5 * (bmi - 25) + rng.normal(0, 4)
    return Anatomy(
        scale_z=float(np.clip(height_cm / 175, 0.9, 1.1)),
        body_a=float(a), body_b=float(b), sat_mm=sat,
        wall_area=sma * (1 - 2 * psoas - 2 * para), para_area=sma * para, psoas_area=sma * psoas,
        vat_fraction=float(np.clip(vat, 0.15, 0.85)),
        muscle_hu=float(np.clip(muscle_hu, 25, 50)),
        sat_hu=rng.normal(-100, 6), vat_hu=rng.normal(-90, 6), liver_hu=rng.uniform(54, 66),
        bone_hu=rng.uniform(150, 250), noise_hu=rng.uniform(10, 16),
        centre_mm=(float(rng.uniform(-6, 6)), float(rng.uniform(-4, 4))),
    )


@dataclass(frozen=True)
class Layout:
    """Positions (mm) derived from an Anatomy; sizes at a given muscle scale, positions fixed over time."""

    anat: Anatomy
    muscle_scale: float
    z: dict[str, tuple[float, float]]  # vertebral body z-range per vertebra
    wall_outer: tuple[float, float]
    cavity: tuple[float, float]
    para: tuple[float, float, float, float]  # centre x (left, >0), centre y, semi-axes a, b
    vb_cy: float
    psoas_gap_x: float  # x of the psoas' medial edge minus the vertebral body's half-width
    aorta: tuple[float, float, float]  # centre x, y, radius
    diaphragm_z: float


def _ring_thickness(a: float, b: float, area: float) -> float:
    """Thickness t of the ring between ellipses (a, b) and (a - t, b - t) that has the given area."""
    return ((a + b) - math.sqrt((a + b) ** 2 - 4 * area / math.pi)) / 2


def _ellipse_axes(area: float, ratio: float) -> tuple[float, float]:
    b = math.sqrt(area / (math.pi * ratio))
    return ratio * b, b


def layout(anat: Anatomy, muscle_scale: float = 1.0) -> Layout:
    s = anat.scale_z
    z, top = {}, 10.0 + 80.0 * s  # the sacrum's top is 90 mm above the field's bottom at scale 1
    z["sacrum"] = (SACRUM_BOTTOM_MM, top)
    for name, height, _gap, *_ in VERTEBRAE[1:]:
        gap_below = VERTEBRAE[VERTEBRA_INDEX[name] - 1][2]
        lo = top + gap_below * s
        top = lo + height * s
        z[name] = (lo, top)
    a1, b1 = anat.body_a - anat.sat_mm, anat.body_b - anat.sat_mm
    ref_t = _ring_thickness(a1, b1, anat.wall_area)
    a2, b2 = a1 - ref_t, b1 - ref_t  # reference cavity (muscle scale 1) fixes every position
    pa, pb = _ellipse_axes(anat.para_area * 1.06, 1.15)  # room for muscle growth up to 6 %
    px = 6 + GAP_MM + pa
    theta = np.linspace(0, 2 * np.pi, 721)
    xs = px + pa * np.cos(theta)
    room = (b2 - GAP_MM) * np.sqrt(np.clip(1 - (xs / (a2 - GAP_MM)) ** 2, 0, None)) - pb * np.sin(theta)
    py = float(room.min())
    vb_cy = py - pb - GAP_MM - 18.0
    r = float(np.clip(0.065 * anat.body_b, 8, 12))
    aorta = (10.0, vb_cy - 18.0 - GAP_MM - r, r)
    t = _ring_thickness(a1, b1, anat.wall_area * muscle_scale)
    pa, pb = _ellipse_axes(anat.para_area * muscle_scale, 1.15)
    dz = z["vertebrae_T11"]
    return Layout(anat, muscle_scale, z, (a1, b1), (a1 - t, b1 - t), (px, py, pa, pb), vb_cy, 4.0, aorta,
                  (dz[0] + dz[1]) / 2)


def _psoas(lay: Layout, name: str) -> tuple[float, float, float, float] | None:
    """Left iliopsoas at a vertebra: centre x, y, semi-axes; None above T12."""
    if name not in PSOAS_FACTOR:
        return None
    ref_a, ref_b = _ellipse_axes(lay.anat.psoas_area * PSOAS_FACTOR[name] * 1.06, 1.2)
    qa, qb = _ellipse_axes(lay.anat.psoas_area * PSOAS_FACTOR[name] * lay.muscle_scale, 1.2)
    vb_a = VERTEBRAE[VERTEBRA_INDEX[name]][3]
    px, py, _pa, pb = lay.para
    cy = min(lay.vb_cy, py - 1.06 * pb - GAP_MM - ref_b)
    return vb_a + lay.psoas_gap_x + ref_a, cy, qa, qb


def _level_ranges(lay: Layout) -> dict[str, tuple[float, float]]:
    """z-range of each vertebra's level, from the middle of the disc below to the middle of the disc above."""
    names = [v[0] for v in VERTEBRAE]
    out = {}
    for k, name in enumerate(names):
        lo, hi = lay.z[name]
        below = (lay.z[names[k - 1]][1] + lo) / 2 if k else -math.inf
        above = (hi + lay.z[names[k + 1]][0]) / 2 if k + 1 < len(names) else math.inf
        out[name] = (below, above)
    return out


def _ell(x, y, cx: float, cy: float, a: float, b: float) -> np.ndarray:
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1


def _ellipsoid(grid_axes, centre, semi) -> np.ndarray:
    z, y, x = grid_axes
    return ((x - centre[0]) / semi[0]) ** 2 + ((y - centre[1]) / semi[1]) ** 2 + ((z - centre[2]) / semi[2]) ** 2 <= 1


def body_axes(lay: Layout, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid's voxel centres (``z, y, x`` mm, broadcastable) relative to the patient's body axis."""
    z, y, x = grid.axes()
    cx, cy = lay.anat.centre_mm
    return z, y - cy, x - cx


def render_labels(lay: Layout, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Tissue label volume (uint8, ``[z, y, x]``) and the cortical-bone mask, painted in order of precedence."""
    axes = z, y, x = body_axes(lay, grid)
    zz = z[:, 0, 0]
    lab = np.zeros(grid.array_shape, np.uint8)
    (a1, b1), (a2, b2) = lay.wall_outer, lay.cavity
    A, B = lay.anat.body_a, lay.anat.body_b
    lab[:, _ell(x[0], y[0], 0, 0, A, B)] = Tissue.SAT
    lab[:, _ell(x[0], y[0], 0, 0, a1, b1)] = Tissue.WALL
    cavity2 = _ell(x[0], y[0], 0, 0, a2, b2)
    lab[:, cavity2] = Tissue.VAT
    cavity = np.broadcast_to(cavity2, lab.shape)
    d = lay.diaphragm_z
    ax, ay, ar = lay.aorta
    # bowel: an anterior ellipse of the abdomen and pelvis, leaving retroperitoneal fat around the aorta
    k = math.sqrt(1 - lay.anat.vat_fraction)
    bowel2 = _ell(x[0], y[0], 0, -0.45 * b2, 0.9 * a2 * k, 0.6 * b2 * k) & (y[0] < ay - ar - 20)
    lab[(zz < d - 60)[:, None, None] & bowel2 & cavity] = Tissue.BOWEL
    # lungs above the diaphragm, lateral to the mediastinum, lobes split by z
    chest = (zz > d)[:, None, None] & cavity
    frac = np.broadcast_to(((zz - d) / max(zz[-1] - d, 1))[:, None, None], lab.shape)
    left = chest & (x > 0.18 * a2)
    right = chest & (x < -0.18 * a2)
    lab[left & (frac < 0.6)] = Tissue.LUNG_LOWER_LOBE_LEFT
    lab[left & (frac >= 0.6)] = Tissue.LUNG_UPPER_LOBE_LEFT
    lab[right & (frac < 0.45)] = Tissue.LUNG_LOWER_LOBE_RIGHT
    lab[right & (frac >= 0.45) & (frac < 0.75)] = Tissue.LUNG_MIDDLE_LOBE_RIGHT
    lab[right & (frac >= 0.75)] = Tissue.LUNG_UPPER_LOBE_RIGHT
    s = lay.anat.scale_z
    organs = [
        (Tissue.HEART, (0.15 * a2, -0.4 * b2, d + 55 * s), (0.42 * a2, 0.5 * b2, 60 * s), z > d - 5),
        (Tissue.LIVER, (-0.35 * a2, -0.05 * b2, d - 60 * s), (0.6 * a2, 0.8 * b2, 75 * s), z < d + 20),
        (Tissue.SPLEEN, (0.62 * a2, 0.4 * b2, d - 45 * s), (0.22 * a2, 0.3 * b2, 45 * s), True),
    ]
    l1 = lay.z["vertebrae_L1"]
    kx = 22 + 4 + 2 * _psoas(lay, "vertebrae_L1")[2] + GAP_MM + 24
    organs += [
        (Tissue.KIDNEY_LEFT, (kx, lay.vb_cy + 8, l1[1] + 5 * s), (24, 18, 50 * s), True),
        (Tissue.KIDNEY_RIGHT, (-kx, lay.vb_cy + 8, l1[1] - 10 * s), (24, 18, 50 * s), True),
    ]
    for tissue, centre, semi, extra in organs:
        lab[_ellipsoid(axes, centre, semi) & cavity & extra] = tissue
    # aorta down to the middle of L4, then the common iliac arteries diverging laterally
    l4 = lay.z["vertebrae_L4"]
    bif = (l4[0] + l4[1]) / 2
    lab[(zz >= bif)[:, None, None] & (np.hypot(x - ax, y - ay) <= ar)] = Tissue.AORTA
    below = (zz < bif)[:, None, None]
    spread = np.clip(bif - z, 0, None) * 0.45
    lab[below & (np.hypot(x - (ax + spread), y - ay) <= 0.75 * ar)] = Tissue.ILIAC_ARTERY_LEFT
    lab[below & (np.hypot(x - (ax - 2 * ar - spread), y - ay) <= 0.75 * ar) & (x < ax - ar)] = Tissue.ILIAC_ARTERY_RIGHT
    cortical = _paint_spine(lab, lay, axes, min(grid.spacing_mm[:2]))
    _paint_muscles(lab, lay, axes)
    return lab, cortical & (lab >= Tissue.VERTEBRA)


def paint_bladder(lab: np.ndarray, lay: Layout, grid: Grid, avoid: Sequence[tuple[np.ndarray, float]]) -> None:
    """Paint the urinary bladder into ``lab`` (in place): an ellipsoid low in the pelvis, over bowel and visceral fat
    only, outside the spheres ``avoid`` (centre x, y, z and radius, mm), so it never holds or touches a lesion. Painted
    once lesions are placed: their sites are those of the phantom without it."""
    axes = z, y, x = body_axes(lay, grid)
    a2, b2 = lay.cavity
    s = lay.anat.scale_z
    bladder = _ellipsoid(axes, (0.0, -0.45 * b2, 45 * s), (0.35 * a2, 0.3 * b2, 30 * s))
    cx, cy = lay.anat.centre_mm
    for centre, radius in avoid:
        bladder &= (x - (centre[0] - cx)) ** 2 + (y - (centre[1] - cy)) ** 2 + (z - centre[2]) ** 2 > radius**2
    lab[bladder & np.isin(lab, (Tissue.BOWEL, Tissue.VAT))] = Tissue.URINARY_BLADDER


def _zslice(zz: np.ndarray, lo: float, hi: float, closed: bool = True) -> slice:
    """The slices with ``lo <= z <= hi`` (``< hi`` when not closed), as a slice of the z axis."""
    inz = np.flatnonzero((zz >= lo) & ((zz <= hi) if closed else (zz < hi)))
    return slice(inz[0], inz[-1] + 1) if len(inz) else slice(0, 0)


def _paint_spine(lab: np.ndarray, lay: Layout, axes, pixel_mm: float) -> np.ndarray:
    z, y, x = axes
    zz = z[:, 0, 0]
    c = max(3.0, 0.75 * pixel_mm)  # cortical shell thickness, at least one voxel deep
    cortical = np.zeros(lab.shape, bool)
    px, py, _pa, pb = lay.para
    for k, (name, _h, _gap, va, vb) in enumerate(VERTEBRAE):
        lo, hi = lay.z[name]
        vertebral_body = _ell(x[0], y[0], 0, lay.vb_cy, va, vb)
        if k + 1 < len(VERTEBRAE):  # the disc above, painted first so the vertebra keeps its end slices
            lab[_zslice(zz, hi, lay.z[VERTEBRAE[k + 1][0]][0], closed=False)][:, vertebral_body] = Tissue.DISC
        inner = _ell(x[0], y[0], 0, lay.vb_cy, va - c, vb - c)
        body = vertebral_body
        if name != "sacrum":  # posterior elements between the autochthon muscles
            y0, y1 = lay.vb_cy + vb, py + 0.5 * pb
            body = body | _ell(x[0], y[0], 0, (y0 + y1) / 2, 6.0, (y1 - y0) / 2)
        zs = _zslice(zz, lo, hi)
        lab[zs][:, body] = Tissue.VERTEBRA + k
        cortical[zs][:, body & ~inner] = True
        cortical[_zslice(zz, lo, lo + c, closed=False)][:, body] = True  # end plates
        cortical[_zslice(zz, hi - c, hi)][:, body] = True
    return cortical


def _paint_muscles(lab: np.ndarray, lay: Layout, axes) -> None:
    z, y, x = axes
    zz = z[:, 0, 0]
    px, py, pa, pb = lay.para
    lab[:, _ell(x[0], y[0], px, py, pa, pb)] = Tissue.AUTOCHTHON_LEFT
    lab[:, _ell(x[0], y[0], -px, py, pa, pb)] = Tissue.AUTOCHTHON_RIGHT
    for name, (lo, hi) in _level_ranges(lay).items():
        psoas = _psoas(lay, name)
        if psoas is None:
            continue
        qx, qy, qa, qb = psoas
        zs = _zslice(zz, lo, hi, closed=False)
        lab[zs][:, _ell(x[0], y[0], qx, qy, qa, qb)] = Tissue.ILIOPSOAS_LEFT
        lab[zs][:, _ell(x[0], y[0], -qx, qy, qa, qb)] = Tissue.ILIOPSOAS_RIGHT


def hu_table(anat: Anatomy) -> np.ndarray:
    """Mean HU per tissue label (index = label); vertebrae get the trabecular value."""
    table = np.zeros(Tissue.VERTEBRA + len(VERTEBRAE), np.float32)
    values = {
        Tissue.AIR: -1000, Tissue.SAT: anat.sat_hu, Tissue.VAT: anat.vat_hu, Tissue.BOWEL: 20, Tissue.HEART: 40,
        Tissue.LIVER: anat.liver_hu, Tissue.SPLEEN: anat.liver_hu - 8, Tissue.KIDNEY_LEFT: 35,
        Tissue.KIDNEY_RIGHT: 35, Tissue.AORTA: 45, Tissue.ILIAC_ARTERY_LEFT: 45, Tissue.ILIAC_ARTERY_RIGHT: 45,
        Tissue.DISC: 85, Tissue.URINARY_BLADDER: 8,
    }
    for tissue, hu in values.items():
        table[tissue] = hu
    for tissue in MUSCLE:
        table[tissue] = anat.muscle_hu
    for tissue in LUNG:
        table[tissue] = -850
    table[Tissue.VERTEBRA:] = anat.bone_hu
    return table


CORTICAL_HU = 700.0
