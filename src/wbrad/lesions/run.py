"""One lesion-radiomics job per scan: read image and lesion map once, write ``lesions_<modality>.tsv``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from wbrad.image import check_geometry, read_image
from wbrad.io import write_tsv
from wbrad.labelmap import label_boxes
from wbrad.lesions.columns import FAILED, OK, TRUNCATED
from wbrad.lesions.extract import extract_lesions, make_extractor
from wbrad.lesions.pet import UPTAKE_COLUMNS, Delineation, lesion_uptake
from wbrad.lesions.sites import lesion_sites
from wbrad.segmentation import LIVER, mask_path, read_mask

log = logging.getLogger(__name__)


def _read(path: Path, tag: str) -> sitk.Image:
    """A result image, checked against its integrity record (``wbrad.image.read_image``); errors name ``tag``."""
    return read_image(path, tag)


def _insert_after(table: pd.DataFrame, column: str, new: pd.DataFrame) -> pd.DataFrame:
    at = table.columns.get_loc(column) + 1
    return pd.concat([table.iloc[:, :at], new.set_axis(table.index), table.iloc[:, at:]], axis=1)


def _pet_border(uptake: pd.DataFrame, border: str) -> pd.Series:
    """The note on each lesion reaching beyond the PET's field of view (NA for the others). With ``exclude`` it
    becomes the uptake's failure reason and the uptake NaN."""
    cut = uptake["border"].notna()
    note = "extends beyond the PET field of view at " + uptake["border"]
    if border != "exclude":
        return note + ": MTV and TLG lower bounds"  # NA where not cut
    uptake.loc[cut, UPTAKE_COLUMNS] = float("nan")
    uptake["reason"] = uptake["reason"].where(~cut, note + " (lesions.border: exclude)")
    return pd.Series(pd.NA, index=uptake.index, dtype=object)


def _with_uptake(table: pd.DataFrame, uptake: pd.DataFrame, border: str = "keep") -> pd.DataFrame:
    """The uptake columns inserted before the pyradiomics features; an uptake failure joins the row's reason and
    fails it, a lesion reaching beyond the PET's field of view is truncated (``_pet_border``)."""
    uptake = uptake.set_index("lesion").reindex(table["lesion"]).reset_index(drop=True)
    note = _pet_border(uptake, border)
    failed = uptake["reason"].notna()
    parts = zip(table["reason"], uptake["reason"], note, strict=True)
    table["reason"] = ["; ".join(str(r) for r in part if pd.notna(r)) or pd.NA for part in parts]
    table.loc[note.notna().to_numpy() & (table["status"] == OK).to_numpy(), "status"] = TRUNCATED
    table.loc[failed.to_numpy(), "status"] = FAILED
    return _insert_after(table, "short_axis_mm", uptake.drop(columns=["border", "reason"]))


def extract_scan(image: Path, lesions: Path, params: Path, modality: str, patient: str, timepoint: str,
                 out_tsv: Path, threads: int = 1, seg: Path | None = None, pet: Path | None = None,
                 delineation: Delineation = Delineation(), shell_mm: float = 5.0, border: str = "keep") -> None:
    """Features of every lesion in ``lesions`` on ``image`` (same grid), per the pyradiomics file ``params``.

    Writes the contract's ``patient_id, timepoint, modality, lesion, status, reason, site``, then ``volume_ml``, the
    centroid in mm and the RECIST axes, then (with ``pet``, the PET in SUV on its own grid) the uptake metrics, then
    every feature column; a lesion whose features fail gets NaN features and a reason. ``site`` comes from the
    segmentation folder ``seg`` (NA without one). ``threads`` worker processes share the lesions. ``border``
    (``keep``/``exclude``, config ``lesions.border``): a lesion cut by the image's or the PET's field of view is
    ``truncated`` (``extract``, ``pet``) or ``failed``.
    """
    tag = f"{patient} {timepoint} {modality}"
    img, labels = _read(Path(image), tag), _read(Path(lesions), tag)
    check_geometry(labels, img, f"{tag}: lesion map {lesions}", str(image))
    array = sitk.GetArrayViewFromImage(labels)  # one pass over the map for crops, sites and uptake
    boxes = label_boxes(array) if np.issubdtype(array.dtype, np.integer) else None  # else crops raise
    table = extract_lesions(img, labels, make_extractor(params), threads=threads, tag=tag, border=border, boxes=boxes)
    ids = table["lesion"].tolist()
    sites = lesion_sites(labels, Path(seg), ids, shell_mm, boxes) if seg is not None else {}
    table = _insert_after(table, "reason", pd.DataFrame({"site": pd.array([sites.get(k) for k in ids], "string")}))
    if pet is not None:
        percist = delineation.method == "percist" and seg is not None
        liver = read_mask(mask_path(Path(seg), LIVER), labels, f"{tag}: lesion map") if percist else None
        try:
            suv = img if Path(pet) == Path(image) else _read(Path(pet), tag)  # burden: the PET is the image
            uptake = lesion_uptake(suv, labels, ids, delineation, liver, boxes)
        except ValueError as exc:
            raise ValueError(f"{tag} ({pet}): {exc}") from exc
        table = _with_uptake(table, uptake, border)
    keys = pd.DataFrame({"patient_id": patient, "timepoint": timepoint, "modality": modality}, index=table.index)
    table = pd.concat([keys, table], axis=1)
    counts = table["status"].value_counts()
    log.info("%s: %d lesions, %d truncated, %d failed -> %s", tag, len(table), counts.get(TRUNCATED, 0),
             counts.get(FAILED, 0), out_tsv)
    write_tsv(table, out_tsv)
