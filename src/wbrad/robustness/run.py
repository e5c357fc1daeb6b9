"""The per-scan robustness job of the workflow: every lesion of one scan perturbed (``perturb.perturbed_features``,
through the lesion stage's extractor and parameter file) and its feature values written in long format
(``report.LONG_COLUMNS``: ``patient_id, timepoint, modality, lesion, perturbation, feature, value``)."""

from __future__ import annotations

import logging
from pathlib import Path

from wbrad.failures import scan_data
from wbrad.image import check_geometry, read_image
from wbrad.io import write_tsv
from wbrad.lesions.extract import make_extractor
from wbrad.robustness.perturb import Chain, perturbed_features
from wbrad.robustness.report import long_values

log = logging.getLogger(__name__)


def perturb_scan(image: Path, lesions: Path, params: Path, modality: str, patient: str, timepoint: str,
                 out_tsv: Path, chain: Chain | None = None, threads: int = 1, border: str = "keep") -> None:
    """Write the perturbed feature values of every lesion in ``lesions`` on ``image`` (same grid) to ``out_tsv``;
    ``threads`` worker processes share the lesions; ``chain`` defaults to ``Chain()``. A scan without lesions gives
    a table with no rows."""
    chain = Chain() if chain is None else chain
    tag = f"{patient} {timepoint} {modality}"
    with scan_data(tag):
        img, labels = read_image(Path(image), tag), read_image(Path(lesions), tag)
        check_geometry(labels, img, f"{tag}: lesion map {lesions}", str(image))
    perturbed = perturbed_features(img, labels, make_extractor(params), chain, workers=threads, tag=tag,
                                   border=border)
    table = long_values(perturbed, patient, timepoint, modality)
    log.info("%s: %d lesions x %d perturbations, %d values -> %s", tag, perturbed["lesion"].nunique(), chain.n,
             len(table), out_tsv)
    write_tsv(table, out_tsv)
