"""Read NIfTI images, checked whole: ITK's reader fills a short file with 0 and turns NaN and inf into 0, silently."""

from __future__ import annotations

import gzip
import logging
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad import integrity
from wbrad.failures import ScanDataError

log = logging.getLogger(__name__)

CHUNK = 1 << 24  # bytes per read: a multiple of every voxel size
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


def _where(path: Path, name: str) -> str:
    """``name`` (e.g. patient and timepoint) with the path, once."""
    return f"{name}: {path}" if name and str(path) not in name else name or str(path)


def _stream(path: Path, offset: int, data_bytes: int, floating: np.dtype | None) -> tuple[int, int]:
    """Read the file to its end (a .nii.gz: to its gzip end-of-stream, checking the CRC and length); return the
    bytes read and, for a float ``floating`` dtype, the number of non-finite values among the data."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        size, bad = len(fh.read(offset)), 0
        while chunk := fh.read(CHUNK):
            if floating is not None:
                data = chunk[: max(0, min(len(chunk), offset + data_bytes - size))]
                data = data[: len(data) - len(data) % floating.itemsize]
                bad += int(np.count_nonzero(~np.isfinite(np.frombuffer(data, floating))))
            size += len(chunk)
    return size, bad


def check_payload(path: str | Path, name: str = "") -> None:
    """Raise ScanDataError (naming ``name`` and the file) unless the file holds the whole data array its header
    declares, a .nii.gz ends with an intact gzip stream (CRC and length), and float data are finite.

    One pass: the file is decompressed once (an uncompressed integer image is only measured)."""
    path, where = Path(path), _where(Path(path), name)
    try:
        header = read_header(path)
    except (ValueError, EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise ScanDataError(f"{where}: not a readable NIfTI header: {err}") from err
    dtype, shape, offset = header.dtype, header.shape, header.offset
    data_bytes = int(np.prod(shape)) * dtype.itemsize
    floating = dtype if np.issubdtype(dtype, np.floating) else None
    try:
        compressed = path.name.endswith(".gz")
        size, bad = _stream(path, offset, data_bytes, floating) if compressed or floating else (path.stat().st_size, 0)
    except (EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise ScanDataError(f"{where}: damaged or cut-off gzip stream ({err}): an interrupted copy?") from err
    if size < offset + data_bytes:
        raise ScanDataError(f"{where}: cut off: {size:,} bytes where its header declares {offset + data_bytes:,} "
                         f"({shape} {dtype.name} voxels from byte {offset:,}): an interrupted copy?")
    if bad:
        raise ScanDataError(f"{where}: {bad} non-finite voxel values")


def read_nifti(path: str | Path, name: str = "") -> sitk.Image:
    """Read a NIfTI (or any single-file format SimpleITK knows) image, checked whole: a file with an integrity record
    (a pipeline result) must match it, any other NIfTI must hold its whole, finite data (:func:`check_payload`)."""
    path = Path(path)
    where = _where(path, name)
    if not path.is_file():
        raise ScanDataError(f"{where}: image file not found")
    if integrity.check(path, where) is None and path.name.endswith(integrity.NIFTI):
        log.info(integrity.unrecorded(path, "its whole payload checked instead"))
        check_payload(path, name)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise ScanDataError(f"{where}: cannot read image: {err}") from err
