"""The ``precomputed`` backend: validate and copy an existing TotalSegmentator output folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import SimpleITK as sitk

from wbrad.bodycomp.masks import read_ct
from wbrad.image import IDENTITY, read_image, write_image
from wbrad.io import atomic_dir
from wbrad.segmentation import NII, checked_mask


class PrecomputedBackend:
    """Copy ``source/<task>/<class>.nii.gz`` to ``out_dir``, canonicalised, checked on the CT grid, as uint8 0/1."""

    def preflight(self) -> list[str]:
        return []  # each scan's source folder is an input of its job, which Snakemake checks

    def segment(self, ct: Path, out_dir: Path, source: Path | None) -> None:
        if source is None or not Path(source).is_dir():
            raise FileNotFoundError(f"precomputed segmentation folder not found: {source} (for CT {ct})")
        masks = sorted(Path(source).glob(f"*/*{NII}"))
        if not masks:
            raise ValueError(f"no masks (<task>/<class>{NII}) in precomputed segmentation folder {source}")
        ref = read_ct(ct)
        with atomic_dir(out_dir) as tmp:
            for path in masks:
                stored = read_image(path, str(path))
                canonical = stored.GetPixelID() == sitk.sitkUInt8 and stored.GetDirection() == IDENTITY
                mask = checked_mask(stored, path, ref, str(ct))
                target = tmp / path.parent.name / path.name
                if canonical:  # the file already holds what read_mask returns: its bytes are the checked mask
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)
                else:
                    write_image(mask, target)
