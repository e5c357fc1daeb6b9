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


def _registry() -> dict[str, type]:
    from wbrad.bodycomp.backends.precomputed import PrecomputedBackend

    return {"precomputed": PrecomputedBackend}


def get_backend(name: str, **settings: Any) -> SegmentationBackend:
    """Instantiate the backend called ``name`` with its settings (keyword arguments of its constructor)."""
    backends = _registry()
    if name not in backends:
        raise ValueError(f"unknown segmentation backend {name!r}; known: {', '.join(sorted(backends))}")
    return backends[name](**settings)
