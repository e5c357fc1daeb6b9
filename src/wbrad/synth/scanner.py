"""CT scanner profiles of the synthetic cohort: each patient's scans come from one scanner, whose reconstruction
kernel sets the image's sharpness (an in-plane Gaussian blur before the noise) and the noise's level and grain.

A smooth kernel blurs the image and lowers and coarsens the noise, a sharp one keeps edges and raises fine-grained
noise: the trade-off of filtered back-projection kernels, which changes texture features between scanners while
the mean HU of a region stays (Mackin et al., Invest Radiol 2015, the credence cartridge radiomics phantom: feature
spread across 17 scanners comparable with that between patients' tumours; Zhao et al., Sci Rep 2016: feature
reproducibility depends on the reconstruction, sharp or smooth kernel and slice thickness). Profile ``A`` is the
cohort's noise before profiles existed (no blur, the patient's noise sd, correlated over 0.6 voxel in-plane); the
aligned cohort uses it for every patient.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class ScannerProfile:
    """A scanner and reconstruction protocol as the DICOM export names it, and what it does to the image."""

    name: str  # the manifest's ``scanner`` value
    manufacturer: str
    model: str
    kernel: str  # DICOM ConvolutionKernel; all soft-tissue kernels, as discover prefers them
    noise_factor: float  # times the patient's noise sd
    blur_mm: float  # sd of the in-plane Gaussian blur of the image (0: as rendered)
    grain_voxels: float  # sd of the in-plane Gaussian that correlates the noise, in voxels

    def as_dict(self) -> dict:
        return asdict(self)

    def dicom(self) -> dict[str, str]:
        """The CT series attributes naming the scanner."""
        return {"Manufacturer": self.manufacturer, "ManufacturerModelName": self.model,
                "ConvolutionKernel": self.kernel, "SeriesDescription": f"CT WB 3.0 {self.kernel}"}

    def render(self, hu: np.ndarray, spacing_mm: tuple[float, float, float], noise_hu: float,
               rng: np.random.Generator) -> np.ndarray:
        """``hu`` (``[z, y, x]`` float, changed in place) blurred in-plane, the noise (sd ``noise_hu`` times the
        factor) added, rounded and clipped to int16."""
        if self.blur_mm:
            hu[:] = ndimage.gaussian_filter(hu, (0, self.blur_mm / spacing_mm[1], self.blur_mm / spacing_mm[0]))
        grain = (0, self.grain_voxels, self.grain_voxels)
        noise = ndimage.gaussian_filter(rng.normal(0, 1, hu.shape).astype(np.float32), grain)
        hu += noise * (noise_hu * self.noise_factor / noise.std())
        return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


PROFILES: tuple[ScannerProfile, ...] = (
    ScannerProfile("A", "SIEMENS", "SOMATOM Definition AS", "B30f", 1.0, 0.0, 0.6),
    ScannerProfile("B", "GE MEDICAL SYSTEMS", "Discovery CT750 HD", "SOFT", 0.6, 1.2, 1.0),
    ScannerProfile("C", "CANON_MEDICAL_SYSTEMS", "Aquilion ONE", "FC13", 1.5, 0.0, 0.35),
)
REFERENCE = PROFILES[0]


def assign_scanners(n_patients: int, seed: int, n_profiles: int = len(PROFILES)) -> list[ScannerProfile]:
    """Each patient's scanner, fixed over the patient's scans (a patient stays at one centre, and ComBat's batch is
    then a patient property): the first ``n_profiles`` profiles in equal shares, in an order drawn from ``seed``
    (stream ``10**6 + 1``, apart from the patients' own), so a scanner says nothing about the outcome."""
    if not 1 <= n_profiles <= len(PROFILES):
        raise ValueError(f"scanner profiles: choose 1 to {len(PROFILES)}, not {n_profiles}")
    order = np.random.default_rng([seed, 10**6 + 1]).permutation(n_patients)
    return [PROFILES[int(k) % n_profiles] for k in order]
