"""Read NIfTI images, checked whole: ITK's reader fills a short file with 0 and turns NaN and inf into 0, silently."""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad import integrity
from wbrad.failures import ScanDataError
from wbrad.nifti_header import read_header

log = logging.getLogger(__name__)

CHUNK = 1 << 24  # bytes per read: a multiple of every voxel size


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
