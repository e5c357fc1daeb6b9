"""Segmentation backends: anything that writes TotalSegmentator's per-class layout for a CT."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable


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
    if tissue_source != "licence_free" or segmentation["backend"] != "totalsegmentator" or settings is None:
        return segmentation
    tasks = [task for task in settings.get("tasks", ["total"]) if not task.startswith("tissue")]
    return {**segmentation, "totalsegmentator": {**settings, "tasks": sorted(set(tasks) | {"total"})}}


def configured_backend(segmentation: dict[str, Any], tissue_source: str = "tissue_types") -> SegmentationBackend:
    """The backend that the config's ``segmentation:`` section names, with its settings (``segmentation[backend]``),
    running the tasks that ``tissue_source`` needs."""
    segmentation = for_tissue_source(segmentation, tissue_source)
    name = segmentation["backend"]
    settings = {k: v for k, v in segmentation.get(name, {}).items() if k not in JOB_RESOURCES}
    return get_backend(name, **settings)
