"""NIfTI-1 and NIfTI-2 headers read with struct: the few fixed fields that say how many bytes the data take (numpy
only: nibabel's import costs a job half a second, and the modelling env, which records checksums, has no SimpleITK)."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# NIfTI datatype codes (nifti1.h; NIfTI-2 keeps them) as numpy dtypes; RGB24 and RGBA32 as raw bytes
DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 32: "c8", 64: "f8", 128: "V3", 256: "i1", 512: "u2", 768: "u4",
          1024: "i8", 1280: "u8", 1792: "c16", 2304: "V4"}
NIFTI1, NIFTI2 = 348, 540  # sizeof_hdr, each header's first field: its length in bytes


@dataclass(frozen=True)
class Header:
    """What a NIfTI header declares about the data: array shape, voxel dtype (with the file's byte order) and the
    byte where the voxels start."""

    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int


def read_header(path: Path) -> Header:
    """The header of a .nii or .nii.gz, NIfTI-1 or NIfTI-2, either byte order: the few fixed fields that say how many
    bytes the data take (read here rather than with nibabel, whose import costs every job half a second).
    ValueError for anything that is not such a header."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read(NIFTI2)
    for order in "<>":
        size = struct.unpack_from(f"{order}i", raw)[0] if len(raw) >= 4 else 0
        if size == NIFTI1 and len(raw) >= NIFTI1:
            dim, (code,), (offset,) = (struct.unpack_from(f"{order}{f}", raw, at) for f, at in
                                        (("8h", 40), ("h", 70), ("f", 108)))
        elif size == NIFTI2 and len(raw) >= NIFTI2:
            (code,), dim, (offset,) = (struct.unpack_from(f"{order}{f}", raw, at) for f, at in
                                        (("h", 12), ("8q", 16), ("q", 168)))
        else:
            continue
        if not 1 <= dim[0] <= 7 or min(dim[1:dim[0] + 1]) < 0:
            raise ValueError(f"dimensions {dim} are not those of an image")
        if code not in DTYPES:
            raise ValueError(f"unsupported datatype code {code}")
        return Header(tuple(int(n) for n in dim[1:dim[0] + 1]), np.dtype(DTYPES[code]).newbyteorder(order),
                      int(offset))
    raise ValueError(f"no NIfTI-1 or NIfTI-2 header (sizeof_hdr is neither {NIFTI1} nor {NIFTI2})")
