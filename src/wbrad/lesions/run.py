"""One lesion-radiomics job per scan: read image and lesion map once, write ``lesions_<modality>.tsv``."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import SimpleITK as sitk

from wbrad.io import write_tsv
from wbrad.lesions.extract import check_geometry, extract_lesions, make_extractor

log = logging.getLogger(__name__)


def extract_scan(image: Path, lesions: Path, params: Path, modality: str, patient: str, timepoint: str,
                 out_tsv: Path, threads: int = 1) -> None:
    """Features of every lesion in ``lesions`` on ``image`` (same grid), per the pyradiomics file ``params``.

    Writes the contract's ``patient_id, timepoint, modality, lesion, status, reason``, then ``volume_ml`` and the
    centroid in mm, then every feature column; a lesion whose features fail gets NaN features and a reason.
    ``threads`` worker processes share the lesions (Snakemake's ``threads``).
    """
    tag = f"{patient} {timepoint} {modality}"
    try:
        img, labels = sitk.ReadImage(str(image)), sitk.ReadImage(str(lesions))
    except RuntimeError as exc:
        raise ValueError(f"{tag}: cannot read {image} or {lesions}: {exc}") from exc
    check_geometry(img, labels, f"{tag} ({image} vs {lesions})")
    table = extract_lesions(img, labels, make_extractor(params), threads=threads, tag=tag)
    keys = pd.DataFrame({"patient_id": patient, "timepoint": timepoint, "modality": modality}, index=table.index)
    table = pd.concat([keys, table], axis=1)
    failed = int((table["status"] == "failed").sum())
    log.info("%s: %d lesions, %d failed -> %s", tag, len(table), failed, out_tsv)
    write_tsv(table, out_tsv)
