"""The ``precomputed`` backend: validate and copy an existing TotalSegmentator output folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import SimpleITK as sitk

from wbrad.bodycomp.masks import read_ct
from wbrad.image import write_image
from wbrad.io import atomic_dir
from wbrad.segmentation import NII, read_mask


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
                mask = read_mask(path, ref, str(ct))
                target = tmp / path.parent.name / path.name
                if _stored_as_checked(path):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)  # already canonical uint8: the bytes are the checked mask
                else:
                    write_image(mask, target)


def _stored_as_checked(path: Path) -> bool:
    """The file already holds what read_mask returns: uint8 with the canonical (identity) direction."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    return reader.GetPixelID() == sitk.sitkUInt8 and reader.GetDirection() == identity
