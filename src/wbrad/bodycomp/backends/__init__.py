"""Segmentation backends: anything that writes TotalSegmentator's per-class layout for a CT."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from wbrad.io import atomic_dir
from wbrad.segmentation import LICENCE_FREE, LICENSED, NII, TISSUE_TYPES, TOTAL

if TYPE_CHECKING:
    import pandas as pd


@runtime_checkable
class SegmentationBackend(Protocol):
    """Writes ``out_dir/<task>/<class>.nii.gz`` (uint8 0/1 on the CT's geometry) for the canonical CT ``ct``.

    ``source`` is backend-specific input (a precomputed folder); model backends may ignore it.
    """

    def segment(self, ct: Path, out_dir: Path, source: Path | None) -> None: ...

    def preflight(self) -> list[str]:
        """What would make every segment job fail (missing weights, interpreter, licence), checked within seconds
        before any job starts; an empty list when ready."""
        ...


JOB_RESOURCES = ("mem_mb",)  # settings for the Snakemake job, not the backend


def _registry() -> dict[str, type]:
    from wbrad.bodycomp.backends.precomputed import PrecomputedBackend
    from wbrad.bodycomp.backends.totalsegmentator import TotalSegmentatorBackend

    return {"precomputed": PrecomputedBackend, "totalsegmentator": TotalSegmentatorBackend}


def get_backend(name: str, **settings: Any) -> SegmentationBackend:
    """Instantiate the backend called ``name`` with its settings (keyword arguments of its constructor)."""
    backends = _registry()
    if name not in backends:
        raise ValueError(f"unknown segmentation backend {name!r}; known: {', '.join(sorted(backends))}")
    return backends[name](**settings)


def for_tissue_source(segmentation: dict[str, Any], tissue_source: str) -> dict[str, Any]:
    """The ``segmentation:`` section with the tasks that ``bodycomp.tissue_source`` needs: the licence-free route
    derives muscle and fat from ``total``, so the licensed tissue tasks are dropped from a model backend."""
    settings = segmentation.get("totalsegmentator")
    if tissue_source != LICENCE_FREE or segmentation["backend"] != "totalsegmentator" or settings is None:
        return segmentation
    tasks = [task for task in settings.get("tasks", [TOTAL]) if task not in LICENSED]
    return {**segmentation, "totalsegmentator": {**settings, "tasks": sorted(set(tasks) | {TOTAL})}}


def configured_backend(segmentation: dict[str, Any], tissue_source: str = TISSUE_TYPES) -> SegmentationBackend:
    """The backend that the config's ``segmentation:`` section names, with its settings (``segmentation[backend]``),
    running the tasks that ``tissue_source`` needs."""
    segmentation = for_tissue_source(segmentation, tissue_source)
    name = segmentation["backend"]
    settings = {k: v for k, v in segmentation.get(name, {}).items() if k not in JOB_RESOURCES}
    return get_backend(name, **settings)


def segment_scan(segmentation: dict[str, Any], tissue_source: str, ct: Path, out_dir: Path,
                 source: Path | None = None, batch: Path | None = None) -> None:
    """The segment job: the configured backend writes ``out_dir`` (or, with ``batch``, the masks that the patient's
    segment_batch job wrote for this CT are linked in); the licence-free route then derives its muscle and fat masks
    into ``out_dir/tissue_types/`` (see ``bodycomp.tissues``). ``out_dir`` appears only when all is done."""
    with atomic_dir(out_dir) as tmp:
        if batch is not None:
            link_masks(Path(batch), tmp)
        else:
            configured_backend(segmentation, tissue_source).segment(Path(ct), tmp, source)
        if tissue_source == LICENCE_FREE:
            from wbrad.bodycomp.tissues import derive_tissues  # here: scipy.ndimage, which linking masks does not need

            derive_tissues(Path(ct), tmp)


def segment_patient(segmentation: dict[str, Any], tissue_source: str, cts: list[Path], out_dir: Path,
                    timepoints: list[str]) -> list[str]:
    """The segment_batch job: one backend process segments all of a patient's CTs (each network loaded once) into
    ``out_dir/<timepoint>/``; CTs that are failed placeholders are left out. Returns the timepoints segmented."""
    from wbrad.integrity import failure_of

    if len(cts) != len(timepoints):
        raise ValueError(f"{len(cts)} CTs for {len(timepoints)} timepoints")
    usable = [(Path(ct), tp) for ct, tp in zip(cts, timepoints, strict=True) if failure_of(ct) is None]
    with atomic_dir(out_dir) as tmp:
        if usable:
            backend = configured_backend(segmentation, tissue_source)
            backend.segment_batch([ct for ct, _ in usable], [tmp / tp for _, tp in usable])
    return [tp for _, tp in usable]


def link_masks(source: Path, out_dir: Path) -> None:
    """Hard-link ``source/<task>/<class>.nii.gz`` (already checked and canonical) into ``out_dir``; copied where
    the file system has no hard links."""
    masks = sorted(source.glob(f"*/*{NII}"))
    if not masks:
        raise FileNotFoundError(f"no masks (<task>/<class>{NII}) in the batch segmentation folder {source}")
    for mask in masks:
        target = out_dir / mask.parent.name / mask.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(mask, target)
        except OSError:
            shutil.copyfile(mask, target)


def unsegmented_scans(manifest: pd.DataFrame, segmentation: dict[str, Any]) -> list[tuple[str, str]]:
    """(patient, timepoint) of every CT that the precomputed backend has no folder for (another backend needs none).
    This package also runs in TotalSegmentator's own Python, so the study's vocabulary is imported here only."""
    from wbrad.study import CT

    if segmentation["backend"] != "precomputed":
        return []
    ct = manifest[manifest["modality"] == CT]
    blank = ct["segmentation"] == "" if "segmentation" in ct else ct["patient_id"].notna()
    return list(map(tuple, ct.loc[blank, ["patient_id", "timepoint"]].to_numpy().tolist()))
