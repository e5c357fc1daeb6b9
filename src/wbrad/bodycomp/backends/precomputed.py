"""The ``precomputed`` backend: validate and copy an existing TotalSegmentator output folder."""

from __future__ import annotations

from pathlib import Path

from wbrad.bodycomp.masks import NII, read_ct, read_mask
from wbrad.convert.image import write_image
from wbrad.io import atomic_dir


class PrecomputedBackend:
    """Copy ``source/<task>/<class>.nii.gz`` to ``out_dir``, canonicalised, checked on the CT grid, as uint8 0/1."""

    def segment(self, ct: Path, out_dir: Path, source: Path | None) -> None:
        if source is None or not Path(source).is_dir():
            raise FileNotFoundError(f"precomputed segmentation folder not found: {source} (for CT {ct})")
        masks = sorted(Path(source).glob(f"*/*{NII}"))
        if not masks:
            raise ValueError(f"no masks (<task>/<class>{NII}) in precomputed segmentation folder {source}")
        ref = read_ct(ct)
        with atomic_dir(out_dir) as tmp:
            for path in masks:
                mask = read_mask(path, ref, str(ct))
                write_image(mask, tmp / path.parent.name / path.name)
