"""A small study of real public cases, for the end-to-end workflow test (tests/workflow/test_real_cases.py).

``build_study(data, out)`` writes an invented registry and manifest around the real scans of the shared reference
folder ``data`` (see docs/real-cases.md) into ``out``, a folder outside the repository; ``data`` is only read:

- RC01, TotalSegmentator's example subject: baseline ``example_ct`` (reaches S1) with its reference segmentation
  ``example_seg_fast_force_split`` split into TotalSegmentator's per-class layout ``total/<class>.nii.gz``; follow-up
  ``example_ct_sm`` (T11-L2, no L3) with the per-class reference ``example_seg_fast/`` (and its ``statistics.json``).
- RC02, MIRP's STS_002 soft-tissue sarcoma of the thigh: DICOM CT with its RTSTRUCT (``GTV_Mass_CT``) and the DICOM
  PET (Units GML, already SUV); NIfTI ground truth next to them.
- RC03, pyradiomics' ``lung1`` CT and mask (NRRD, converted to NIfTI), with pyradiomics' baseline feature values.

Scans without a reference segmentation get the lumbar vertebrae as empty masks: TotalSegmentator writes a mask for
every class, empty where the class is not in the image, and no lumbar vertebra is in a thigh or chest CT.
The CT lesions are measured with the settings of pyradiomics' baseline; the model stage keeps the repository's
cross-validation, which three patients cannot support (its "not enough data" path).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
import yaml

from wbrad.segmentation import LUMBAR, NII, TOTAL, read_class_map

TOTALSEG, STS, PYRADIOMICS = "totalsegmentator_refs", "petct_sts002_mirp", "pyradiomics_testcases"
FOLDERS = (TOTALSEG, STS, PYRADIOMICS)
LUNG_CASE = "lung1"
FEATURE_CLASSES = ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
CT_ROI = "GTV_Mass_CT"

REGISTRY = pd.DataFrame([  # invented clinical values; RC02's weight is the DICOM PatientWeight
    {"patient_id": "RC01", "age": 64, "sex": "M", "height_cm": 178, "weight_kg": 74, "ecog": 0, "ldh": 210,
     "therapy": "anti-PD1", "therapy_start": "2021-03-01", "os_days": 540, "os_event": 1, "pfs_days": 200,
     "pfs_event": 1},
    {"patient_id": "RC02", "age": 57, "sex": "M", "height_cm": 182, "weight_kg": 99, "ecog": 1, "ldh": 260,
     "therapy": "doxorubicin", "therapy_start": "2019-06-10", "os_days": 900, "os_event": 0, "pfs_days": 410,
     "pfs_event": 1},
    {"patient_id": "RC03", "age": 71, "sex": "F", "height_cm": 165, "weight_kg": 60, "ecog": 1, "ldh": 320,
     "therapy": "ipi+nivo", "therapy_start": "2020-09-21", "os_days": 300, "os_event": 1, "pfs_days": 120,
     "pfs_event": 1},
])


def missing_folders(data: Path) -> list[str]:
    """The reference folders of ``FOLDERS`` that ``data`` lacks (the test skips, naming them)."""
    return [name for name in FOLDERS if not (Path(data) / name / "README.md").is_file()]


def totalseg_file(data: Path, name: str) -> Path:
    return Path(data) / TOTALSEG / "reference_files" / name


STS_FILES = {"dicom": "", "rtstruct": "RS.dcm", "image": f"image{NII}", "mask": f"mask{NII}"}  # below STS_FOLDERS
STS_FOLDERS = {"dicom": "dicom/image", "rtstruct": "dicom/mask", "image": "nifti/image", "mask": "nifti/mask"}


def sts_file(data: Path, modality: str, kind: str) -> Path:
    """STS_002's ``modality`` (CT, PET) ``kind``: ``dicom`` (series folder), ``rtstruct``, and the NIfTI ground truth
    ``image`` and ``mask``."""
    return Path(data) / STS / "STS_002" / modality / STS_FOLDERS[kind] / STS_FILES[kind]


def pyradiomics_file(data: Path, case: str, kind: str) -> Path:
    """A pyradiomics test case's ``image`` or ``label`` NRRD."""
    return Path(data) / PYRADIOMICS / "data" / f"{case}_{kind}.nrrd"


# --- reference values -------------------------------------------------------------------------------------------------
def _baseline_rows(data: Path, feature_class: str, case: str) -> dict[str, str]:
    with open(Path(data) / PYRADIOMICS / "data" / "baseline" / f"baseline_{feature_class}.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    column = rows[0].index(case)
    return {row[0]: row[column] for row in rows[1:]}


def baseline_features(data: Path, case: str = LUNG_CASE) -> dict[str, float]:
    """pyradiomics' baseline value of every ``original_`` feature of ``case`` (default configuration)."""
    values = {}
    for feature_class in FEATURE_CLASSES:
        rows = _baseline_rows(data, feature_class, case)
        values |= {name: float(v) for name, v in rows.items() if name.startswith("original_") and v != ""}
    return values


def baseline_settings(data: Path, case: str = LUNG_CASE) -> dict[str, Any]:
    """The extractor settings pyradiomics' baseline was made with (``diagnostics_Configuration_Settings``)."""
    return ast.literal_eval(_baseline_rows(data, "firstorder", case)["diagnostics_Configuration_Settings"])


def totalseg_statistics(data: Path) -> dict[str, dict[str, float]]:
    """TotalSegmentator's ``statistics.json`` of ``example_ct_sm``: per class ``volume`` (mm3) and ``intensity``."""
    return json.loads(totalseg_file(data, "example_seg_fast/statistics.json").read_text(encoding="utf-8"))


# --- the study's files ------------------------------------------------------------------------------------------------
def write_mask(mask: sitk.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.Cast(mask, sitk.sitkUInt8), str(path), True)


def split_to_classes(multilabel: Path, class_map: dict[int, str], out: Path, task: str = TOTAL) -> None:
    """``out/<task>/<class>.nii.gz`` for every label present, in the multilabel's own orientation, as TotalSegmentator
    writes its per-class output."""
    labels = sitk.ReadImage(str(multilabel))
    for label in np.unique(sitk.GetArrayViewFromImage(labels)):
        if label:
            write_mask(labels == int(label), out / task / f"{class_map[int(label)]}{NII}")


def empty_classes(ct: sitk.Image, classes: list[str], out: Path) -> None:
    """Empty masks ``out/<task>/<class>.nii.gz`` on ``ct``'s grid: classes TotalSegmentator did not find."""
    empty = sitk.Image(ct.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(ct)
    for name in classes:
        write_mask(empty, out / f"{name}{NII}")


def copy_classes(folder: Path, out: Path, task: str = TOTAL) -> None:
    """A folder of per-class masks (``<class>.nii.gz``) as ``out/<task>/``."""
    (out / task).mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.glob(f"*{NII}")):
        shutil.copyfile(path, out / task / path.name)


def to_nifti(source: Path, target: Path) -> Path:
    """An NRRD (or any SimpleITK image) rewritten as NIfTI, voxels and geometry unchanged."""
    target.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.ReadImage(str(source)), str(target), True)
    return target


def dicom_geometry(series: Path) -> sitk.Image:
    """A DICOM series' grid (its voxels too), as SimpleITK reads it."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series)))
    return reader.Execute()


def write_params(settings: dict[str, Any], path: Path) -> Path:
    """A pyradiomics parameter file with ``settings``, the original image and every feature class."""
    setting = {**settings, "additionalInfo": False}  # diagnostics are not kept; the features do not depend on them
    params = {"setting": setting, "imageType": {"Original": {}}, "featureClass": dict.fromkeys(FEATURE_CLASSES)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def _row(patient: str, timepoint: str, date: str, modality: str, image: Path, lesions: Path | str = "",
         segmentation: Path | str = "") -> dict[str, str]:
    return {"patient_id": patient, "timepoint": timepoint, "scan_date": date, "modality": modality,
            "image": str(image), "lesions": str(lesions), "segmentation": str(segmentation)}


def totalseg_scans(data: Path, out: Path) -> list[dict[str, str]]:
    """RC01: the example CT reaching S1 (multilabel reference split per class) and the small one (per-class
    reference copied)."""
    class_map = read_class_map(Path(data) / TOTALSEG / "class_map_total.tsv")
    split_to_classes(totalseg_file(data, "example_seg_fast_force_split.nii.gz"), class_map, out / "seg/RC01_baseline")
    copy_classes(totalseg_file(data, "example_seg_fast"), out / "seg/RC01_fu1")
    return [_row("RC01", "baseline", "2021-02-22", "CT", totalseg_file(data, "example_ct.nii.gz"),
                 segmentation=out / "seg/RC01_baseline"),
            _row("RC01", "fu1", "2021-05-17", "CT", totalseg_file(data, "example_ct_sm.nii.gz"),
                 segmentation=out / "seg/RC01_fu1")]


def no_lumbar_spine(ct: sitk.Image, out: Path) -> Path:
    """A segmentation folder holding the lumbar vertebrae as empty masks, for a CT they are not in."""
    empty_classes(ct, list(LUMBAR), out)
    return out


def sts_scans(data: Path, out: Path) -> list[dict[str, str]]:
    """RC02: the DICOM CT with its RTSTRUCT, and the DICOM PET."""
    ct = sts_file(data, "CT", "dicom")
    seg = no_lumbar_spine(dicom_geometry(ct), out / "seg/RC02_baseline")
    return [_row("RC02", "baseline", "2019-06-03", "CT", ct, sts_file(data, "CT", "rtstruct"), seg),
            _row("RC02", "baseline", "2019-06-03", "PT", sts_file(data, "PET", "dicom"))]


def lung_scans(data: Path, out: Path) -> list[dict[str, str]]:
    """RC03: pyradiomics' lung CT and its mask, as NIfTI."""
    image = to_nifti(pyradiomics_file(data, LUNG_CASE, "image"), out / f"images/{LUNG_CASE}_image{NII}")
    labels = to_nifti(pyradiomics_file(data, LUNG_CASE, "label"), out / f"images/{LUNG_CASE}_label{NII}")
    seg = no_lumbar_spine(sitk.ReadImage(str(image)), out / "seg/RC03_baseline")
    return [_row("RC03", "baseline", "2020-09-14", "CT", image, labels, seg)]


def study_config(out: Path, ct_params: Path) -> dict[str, Any]:
    """The study's config on top of the repository's ``config.yaml`` (absolute paths: it runs from any folder)."""
    return {"manifest": str(out / "manifest.tsv"), "registry": str(out / "registry.csv"),
            "convert": {"roi_pattern": f"^{CT_ROI}$"},
            "bodycomp": {"tissue_source": "licence_free"},  # tissue_types references exist only for the small CT
            "lesions": {"params": {"CT": str(ct_params)}}}


def build_study(data: Path, out: Path) -> Path:
    """Write the study into ``out`` (registry.csv, manifest.tsv, seg/, images/, params/, study.yaml); return the path of
    study.yaml, to pass to ``snakemake --configfile config.yaml study.yaml``. Reads ``data``, never writes there."""
    data, out = Path(data).resolve(), Path(out).resolve()
    if missing := missing_folders(data):
        raise FileNotFoundError(f"{data}: reference folders missing: {', '.join(missing)}")
    rows = totalseg_scans(data, out) + sts_scans(data, out) + lung_scans(data, out)
    pd.DataFrame(rows).to_csv(out / "manifest.tsv", sep="\t", index=False)
    REGISTRY.to_csv(out / "registry.csv", index=False)
    params = write_params(baseline_settings(data), out / "params/ct_pyradiomics_baseline.yaml")
    config = out / "study.yaml"
    config.write_text(yaml.safe_dump(study_config(out, params), sort_keys=False), encoding="utf-8")
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=build_study.__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the shared reference folder (shared/data)")
    parser.add_argument("out", type=Path, help="where to write the study")
    args = parser.parse_args(argv)
    print(build_study(args.data, args.out))


if __name__ == "__main__":
    main()
