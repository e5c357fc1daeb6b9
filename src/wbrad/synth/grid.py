"""Image grids of the synthetic cohort: sizes, voxel coordinates in mm, SimpleITK images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk


@dataclass(frozen=True)
class Grid:
    """An axis-aligned (identity direction) voxel grid; arrays are indexed ``[z, y, x]`` as SimpleITK returns them."""

    spacing_mm: tuple[float, float, float]  # x, y, z
    shape: tuple[int, int, int]  # x, y, z
    origin_mm: tuple[float, float, float]  # x, y, z of voxel (0, 0, 0)'s centre

    @property
    def array_shape(self) -> tuple[int, int, int]:
        return self.shape[::-1]

    @property
    def voxel_mm3(self) -> float:
        """The voxel volume as readers see it: NIfTI stores the spacing as float32 (3.2 mm is 3.2000000477)."""
        return float(np.prod(np.asarray(self.spacing_mm, np.float32).astype(np.float64)))

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coordinates (mm) of voxel centres as broadcastable arrays ``z[:, None, None], y[None, :, None],
        x[None, None, :]``."""
        x, y, z = (o + s * np.arange(n) for o, s, n in zip(self.origin_mm, self.spacing_mm, self.shape, strict=True))
        return z[:, None, None], y[None, :, None], x[None, None, :]

    def image(self, array: np.ndarray) -> sitk.Image:
        """Wrap an ``[z, y, x]`` array as a SimpleITK image on this grid."""
        if array.shape != self.array_shape:
            raise ValueError(f"array of shape {array.shape} does not fit the grid {self.array_shape}")
        img = sitk.GetImageFromArray(np.ascontiguousarray(array))
        img.SetSpacing(self.spacing_mm)
        img.SetOrigin(self.origin_mm)
        return img

    def index_of(self, point_mm: np.ndarray) -> np.ndarray:
        """Continuous ``[z, y, x]`` index of a point given in mm as ``(x, y, z)``."""
        return ((np.asarray(point_mm) - self.origin_mm) / self.spacing_mm)[::-1]


@dataclass(frozen=True)
class SynthSize:
    """Image size of a synthetic cohort: the CT grid, and the PET grid covering the same field."""

    name: str
    spacing_mm: tuple[float, float, float]  # CT, x y z
    shape: tuple[int, int, int]  # CT, x y z
    pet_spacing_mm: tuple[float, float, float]

    def ct_grid(self) -> Grid:
        """The CT grid: x and y centred on the body axis, z = 0 at the first slice (the bottom of the field)."""
        origin = (-(self.shape[0] - 1) * self.spacing_mm[0] / 2, -(self.shape[1] - 1) * self.spacing_mm[1] / 2, 0.0)
        return Grid(self.spacing_mm, self.shape, origin)

    def pet_grid(self) -> Grid:
        """The PET grid: same field of view (voxel edges) as the CT, coarser voxels."""
        ct = self.ct_grid()
        extent = np.multiply(self.spacing_mm, self.shape)
        shape = extent / self.pet_spacing_mm
        if not np.allclose(shape, np.round(shape)):
            raise ValueError(f"size {self.name}: PET spacing {self.pet_spacing_mm} does not tile the field {extent}")
        lower = np.subtract(ct.origin_mm, np.divide(self.spacing_mm, 2))
        origin = lower + np.divide(self.pet_spacing_mm, 2)
        return Grid(self.pet_spacing_mm, tuple(int(n) for n in np.round(shape)), tuple(float(o) for o in origin))


SIZES: dict[str, SynthSize] = {
    "demo": SynthSize("demo", (3.0, 3.0, 5.0), (140, 108, 96), (4.0, 4.0, 4.0)),
    "tiny": SynthSize("tiny", (3.2, 3.2, 8.0), (130, 100, 56), (8.0, 8.0, 8.0)),
}
