"""Per-job overhead (issue 16): a rule script imports only what its job uses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pydicom.misc
import pytest
import SimpleITK as sitk

from wbrad.convert.dicom import is_dicom

from .conftest import REPO

HEAVY = ("pydicom", "nibabel", "highdicom", "matplotlib", "radiomics", "jsonschema", "sklearn", "sksurv")


def _imported(module: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after importing ``module`` (as a rule script does)."""
    code = f"import sys; sys.path.insert(0, {str(REPO / 'src')!r}); import {module}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize(("module", "allowed"), [
    ("wbrad.workflow", ()),
    ("wbrad.image", ()),
    ("wbrad.convert.run", ()),
    ("wbrad.delta.run", ("jsonschema",)),  # through wbrad.study, which imports it at the top
    ("wbrad.lesions.run", ()),  # pyradiomics is imported when the first extractor is made
    ("wbrad.bodycomp.run", ()),  # the QC pictures are Pillow's (wbrad.pictures): matplotlib is the models' alone
    ("wbrad.burden.mip", ()),
    ("wbrad.tracking.qc", ()),
])
def test_a_job_module_leaves_the_heavy_libraries_out(module: str, allowed: tuple[str, ...]) -> None:
    heavy = _imported(module) & set(HEAVY)
    assert heavy <= set(allowed), f"{module} imports {sorted(heavy)}"


@pytest.mark.parametrize("module", ["wbrad.delta.run", "wbrad.lesions.run"])
def test_the_lesion_and_delta_jobs_leave_scipy_out(module: str) -> None:
    """scipy.ndimage or scipy.spatial cost either job a quarter second of its second (wbrad.labelmap); delta has no
    use for SimpleITK either."""
    assert "scipy" not in _imported(module)
    assert "SimpleITK" not in _imported("wbrad.delta.run")


def test_the_bodycomp_job_leaves_pandas_out() -> None:
    """Its one row and the cut-off table are read and written with the csv module (wbrad.io.write_rows): pandas is
    0.3 s of a job of about one second, and there is a bodycomp job for every CT."""
    assert "pandas" not in _imported("wbrad.bodycomp.run")


def test_the_register_job_needs_neither_pandas_nor_scipy() -> None:
    """It reads two CTs and registers them with SimpleITK; the track job's matching (pandas, scipy.optimize) and
    lesion geometry (scipy.ndimage) are a second of imports it has no use for."""
    assert not _imported("wbrad.tracking.register") & {"pandas", "scipy", *HEAVY}


def test_the_robustness_job_leaves_the_icc_statistics_out() -> None:
    """scipy.stats (half a second) computes the cohort's ICCs in robustness_icc, not the per-scan perturbations."""
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'src')!r}); import wbrad.robustness.run; "
            "print(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "wbrad.robustness.perturb" in out and "scipy.stats" not in out and "wbrad.robustness.icc" not in out


def test_the_precomputed_segment_job_leaves_scipy_out(tmp_path) -> None:
    """It links checked masks; scipy (half a second to import) is for the licence-free route's tissue masks."""
    code = f"""import sys; sys.path.insert(0, {str(REPO / 'src')!r})
from pathlib import Path
import numpy as np, SimpleITK as sitk
from wbrad.bodycomp.backends import segment_scan
tmp = Path({str(tmp_path)!r})
(tmp / "source/total").mkdir(parents=True)
for name, dtype in (("ct.nii.gz", np.int16), ("source/total/liver.nii.gz", np.uint8)):
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((4, 5, 6), dtype)), str(tmp / name))
segment_scan({{"backend": "precomputed"}}, "tissue_types", tmp / "ct.nii.gz", tmp / "seg", source=tmp / "source")
print(" ".join(sys.modules))"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert (tmp_path / "seg/total/liver.nii.gz").is_file()
    assert not {name.split(".")[0] for name in out.split()} & {"scipy", "pandas", "matplotlib"}


def test_is_dicom_agrees_with_pydicom(tmp_path) -> None:
    nifti = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4), np.int16)), str(nifti))
    dicom = tmp_path / "ct.dcm"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((1, 3, 4), np.int16)), str(dicom))
    short = tmp_path / "short.dcm"
    short.write_bytes(b"\0" * 100)
    for path in (nifti, dicom, short):
        assert is_dicom(path) == pydicom.misc.is_dicom(path)
    assert is_dicom(dicom) and not is_dicom(nifti) and is_dicom(tmp_path) and not is_dicom(tmp_path / "absent")
