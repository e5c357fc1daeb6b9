"""TotalSegmentator's tasks and the class names wbrad reads, each written once, and the one loader of their masks.

A segmentation folder holds ``<task>/<class>.nii.gz`` (uint8 0/1 on the CT's grid); a class is named ``task/class``
(``total/liver``). Body composition, lesion sites and PET read masks only through ``read_mask`` and the loaders below.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Iterable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad.image import check_geometry, read_canonical, read_image, validated_canonical
from wbrad.io import write_json

NII = ".nii.gz"
DERIVED = "derived.json"  # in a segmentation folder: which masks the segment job derived, and from what

# --- tasks -----------------------------------------------------------------------------------------------------------
TOTAL, BODY, TISSUE_TYPES, TISSUE_4_TYPES = "total", "body", "tissue_types", "tissue_4_types"
LICENSED = (TISSUE_TYPES, TISSUE_4_TYPES)  # need a TotalSegmentator licence
LICENCE_FREE = "licence_free"  # the route that derives tissue_types' masks from `total` and HU (bodycomp/tissues.py)
TISSUE_SOURCES = (TISSUE_TYPES, LICENCE_FREE)  # config bodycomp.tissue_source


def total(name: str) -> str:
    return f"{TOTAL}/{name}"


def tissue_type(name: str) -> str:
    return f"{TISSUE_TYPES}/{name}"


# --- total: organs, spine, bones, muscles ----------------------------------------------------------------------------
LIVER, SPLEEN = total("liver"), total("spleen")
LUNG = tuple(total(f"lung_{lobe}") for lobe in ("upper_lobe_left", "lower_lobe_left", "upper_lobe_right",
                                                  "middle_lobe_right", "lower_lobe_right"))
VERTEBRA = total("vertebrae_")  # prefix of every vertebra
CERVICAL = tuple(f"{VERTEBRA}C{k}" for k in range(1, 8))
THORACIC = tuple(f"{VERTEBRA}T{k}" for k in range(1, 13))
LUMBAR = tuple(f"{VERTEBRA}L{k}" for k in range(1, 6))
S1 = f"{VERTEBRA}S1"
L1, L3, T12 = LUMBAR[0], LUMBAR[2], THORACIC[-1]
SIDES = ("left", "right")
BONES = (*CERVICAL, *THORACIC, *LUMBAR, S1, total("sacrum"),
         *(total(f"rib_{side}_{k}") for side in SIDES for k in range(1, 13)),
         *(total(f"{bone}_{side}") for bone in ("hip", "femur", "humerus", "scapula", "clavicula") for side in SIDES),
         total("sternum"), total("skull"))
MUSCLES = tuple(total(f"{muscle}_{side}") for muscle in ("autochthon", "iliopsoas", "gluteus_maximus",
                                                           "gluteus_medius", "gluteus_minimus") for side in SIDES)

# --- tissue_types (licensed, or derived by the licence-free route) and tissue_4_types ---------------------------------
SKELETAL_MUSCLE = tissue_type("skeletal_muscle")
SUBCUTANEOUS_FAT = tissue_type("subcutaneous_fat")
TORSO_FAT = tissue_type("torso_fat")  # visceral, mediastinal and retroperitoneal fat
INTERMUSCULAR_FAT = f"{TISSUE_4_TYPES}/intermuscular_fat"


def short(name: str) -> str:
    """The class without its task (``vertebrae_L3``), for messages."""
    return name.split("/", 1)[-1]


def level(vertebra: str) -> str:
    """The level of a vertebra class (``L3`` for ``total/vertebrae_L3``)."""
    return vertebra.removeprefix(VERTEBRA)


def mask_path(seg: Path, name: str) -> Path:
    """Where class ``task/class`` lives in the segmentation folder ``seg``."""
    return Path(seg) / f"{name}{NII}"


def read_mask(path: str | Path, ref: sitk.Image, ref_name: str) -> sitk.Image:
    """Read a binary mask, canonicalise it, require ``ref``'s grid and values 0/1; return it as uint8."""
    return checked_mask(read_image(path, str(path)), path, ref, ref_name)


def checked_mask(stored: sitk.Image, path: str | Path, ref: sitk.Image, ref_name: str) -> sitk.Image:
    """``read_mask`` of the image ``stored`` as read from ``path``."""
    mask = validated_canonical(stored, str(path))
    check_geometry(mask, ref, str(path), ref_name)
    voxels = sitk.GetArrayViewFromImage(mask)
    if mask.GetPixelID() == sitk.sitkUInt8 and voxels.max(initial=0) <= 1:  # the usual case, without np.unique
        return mask
    values = np.unique(voxels)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{path}: a mask must hold only 0 and 1, found {values[:10].tolist()}")
    return sitk.Cast(mask, sitk.sitkUInt8)


def read_array(path: str | Path, ref: sitk.Image, ref_name: str) -> np.ndarray:
    """``read_mask`` as a boolean ``[z, y, x]`` array."""
    return sitk.GetArrayFromImage(read_mask(path, ref, ref_name)).astype(bool)


def load_task(folder: Path, ref: sitk.Image, ref_name: str, task: str,
              classes: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Masks ``<folder>/<class>.nii.gz`` as boolean arrays named ``<task>/<class>`` (only ``classes`` if given)."""
    paths = {f"{task}/{p.name.removesuffix(NII)}": p for p in sorted(Path(folder).glob(f"*{NII}"))}
    return {name: read_array(p, ref, ref_name) for name, p in paths.items() if classes is None or name in classes}


def load_seg(seg: Path, ref: sitk.Image, ref_name: str,
             classes: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Masks of a segmentation folder; all, or those named in ``classes``. Classes absent from it are left out.

    A whole-body CT has over a hundred masks, so callers name the few they need to keep memory low.
    """
    if not Path(seg).is_dir():
        raise FileNotFoundError(f"segmentation folder not found: {seg}")
    masks = {}
    for folder in sorted(p for p in Path(seg).iterdir() if p.is_dir()):
        masks |= load_task(folder, ref, ref_name, folder.name, classes)
    if not masks:
        raise ValueError(f"no masks (<task>/<class>{NII}) in segmentation folder {seg}"
                         + ("" if classes is None else f" among {sorted(classes)}"))
    return masks


def load_union(seg: Path, classes: Iterable[str], ref: sitk.Image, ref_name: str) -> np.ndarray:
    """The union of the named classes present in ``seg`` (all False when none is), read one at a time."""
    union = np.zeros(sitk.GetArrayViewFromImage(ref).shape, bool)
    for path in (mask_path(seg, name) for name in classes):
        if path.is_file():
            union |= read_array(path, ref, ref_name)
    return union


def write_derived(seg: Path, record: dict) -> None:
    """Record in ``seg/derived.json`` which masks the segment job derived itself, and from what."""
    write_json(record, Path(seg) / DERIVED)


def read_derived(seg: Path) -> dict:
    """``seg/derived.json``, or {} where every mask came from the backend."""
    path = Path(seg) / DERIVED
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_class_map(tsv: Path) -> dict[int, str]:
    """A ``label<TAB>name`` table (TotalSegmentator's class map) as ``{label: name}``."""
    with open(tsv, newline="") as fh:
        return {int(row["label"]): row["name"] for row in csv.DictReader(fh, delimiter="\t")}


def split_multilabel(path: str | Path, class_map: dict[int, str], task: str = TOTAL) -> dict[str, np.ndarray]:
    """Split a multilabel segmentation into canonical boolean masks ``<task>/<name>`` (labels absent stay out)."""
    labels = sitk.GetArrayFromImage(read_canonical(path, str(path)))
    unknown = set(np.unique(labels).tolist()) - set(class_map) - {0}
    if unknown:
        raise ValueError(f"{path}: labels {sorted(unknown)} are not in the class map")
    return {f"{task}/{name}": labels == label for label, name in class_map.items() if (labels == label).any()}


# --- physiological FDG uptake, removed from the PET tumour burden (wbrad.burden.exclusion) ---------------------------
HEARTCHAMBERS = "heartchambers_highres"  # TotalSegmentator's (licensed) heart task, which has the myocardium
BRAIN = total("brain")
HEART = total("heart")
HEART_MYOCARDIUM = f"{HEARTCHAMBERS}/heart_myocardium"
KIDNEYS = tuple(total(f"kidney_{side}") for side in SIDES)  # the renal collecting system (urine) lies inside
URINARY_BLADDER = total("urinary_bladder")
BOWEL = (total("small_bowel"), total("duodenum"), total("colon"))
STOMACH = total("stomach")
# organ group (a key of config burden.exclude) -> its classes; TotalSegmentator has no ureter class (a study with
# ureter masks names them in the config as task/class)
PHYSIOLOGICAL: dict[str, tuple[str, ...]] = {
    "brain": (BRAIN,),
    "heart": (HEART, HEART_MYOCARDIUM),
    "kidneys": KIDNEYS,
    "urinary_bladder": (URINARY_BLADDER,),
    "bowel": BOWEL,
    "stomach": (STOMACH,),
}


def physiological_classes(key: str) -> tuple[str, ...]:
    """The classes of an organ group of ``PHYSIOLOGICAL``, or the one class a ``task/class`` key names."""
    if key in PHYSIOLOGICAL:
        return PHYSIOLOGICAL[key]
    if "/" in key:
        return (key,)
    raise ValueError(f"unknown organ group {key!r}: one of {sorted(PHYSIOLOGICAL)} or a class as task/class")
