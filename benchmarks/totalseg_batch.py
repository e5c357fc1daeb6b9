"""TotalSegmentator with stand-in weights: N tiny synthetic CTs in one batch job against N one-scan jobs.

`python benchmarks/totalseg_batch.py [--scans 4] [--task total] [--fast]` builds stand-in weights
(:mod:`wbrad.testing.standin`), writes N synthetic CTs, segments each in its own TotalSegmentator process
(:meth:`TotalSegmentatorBackend.segment`, today's segment job) and then all in one process
(:meth:`TotalSegmentatorBackend.segment_batch`), checks that the masks are identical voxel for voxel, and prints the
wall seconds, the seconds in the networks' forward passes (measured inside the runner) and the per-scan overhead
besides prediction (job wall seconds minus forward-pass seconds, per scan), with the ratio (target: at least 5).
Needs TotalSegmentator's virtual environment (`make totalseg`); CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad.bodycomp.backends.totalsegmentator import DEFAULT_VENV_PYTHON, TotalSegmentatorBackend
from wbrad.study import repository


def synthetic_ct(path: Path, seed: int, size: tuple[int, int, int] = (96, 80, 32)) -> Path:
    """An elliptic trunk (soft tissue, fat rim, two lungs, a spine) in air, 3 mm voxels, noise by ``seed``."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in size[::-1]), indexing="ij")
    scale = 1 + 0.1 * rng.standard_normal()
    hu = np.full(x.shape, -1000.0)
    hu[(x / 0.8 / scale) ** 2 + (y / 0.6) ** 2 < 1] = -100.0
    hu[(x / 0.7 / scale) ** 2 + (y / 0.5) ** 2 < 1] = 40.0
    for side in (-0.35, 0.35):
        hu[((x - side) / 0.22) ** 2 + ((y + 0.05) / 0.3) ** 2 + (z / 1.5) ** 2 < 1] = -850.0
    hu[(x / 0.1) ** 2 + ((y - 0.35) / 0.1) ** 2 < 1] = 700.0
    image = sitk.GetImageFromArray((hu + 20 * rng.standard_normal(hu.shape)).astype(np.int16))
    image.SetSpacing((3.0, 3.0, 3.0))
    sitk.WriteImage(image, str(path))
    return path


def masks(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): sitk.GetArrayFromImage(sitk.ReadImage(str(p)))
            for p in sorted(folder.rglob("*.nii.gz"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=4)
    parser.add_argument("--task", default="total")
    parser.add_argument("--fast", action="store_true", default=True)
    args = parser.parse_args()
    python = repository() / DEFAULT_VENV_PYTHON
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([str(python), "-m", "wbrad.testing.standin", "--weights", str(tmp / "w"), "--task", args.task,
                        *(["--fast"] if args.fast else [])], check=True, capture_output=True,
                       env={"PYTHONPATH": str(repository() / "src"), "PATH": "/usr/bin:/bin"})
        cts = [synthetic_ct(tmp / f"ct{i}.nii.gz", i) for i in range(args.scans)]
        backend = TotalSegmentatorBackend(python=str(python), weights=str(tmp / "w"), tasks=(args.task,),
                                          fast=args.fast, device="cpu", threads=1)
        rows = {}
        start = time.perf_counter()
        predicted = 0.0
        for i, ct in enumerate(cts):
            backend.segment(ct, tmp / f"one{i}", timings=tmp / f"one{i}.json")
            predicted += sum(t["prediction_seconds"] for t in json.loads((tmp / f"one{i}.json").read_text()))
        rows["one-scan jobs"] = (time.perf_counter() - start, predicted)
        start = time.perf_counter()
        backend.segment_batch(cts, [tmp / f"batch{i}" for i in range(len(cts))], timings=tmp / "batch.json")
        predicted = sum(t["prediction_seconds"] for t in json.loads((tmp / "batch.json").read_text()))
        rows["one batch job"] = (time.perf_counter() - start, predicted)
        same = all(
            list(a := masks(tmp / f"one{i}")) == list(b := masks(tmp / f"batch{i}"))
            and all(np.array_equal(a[k], b[k]) for k in a) for i in range(len(cts))
        )
    n = len(cts)
    print(f"{n} synthetic CTs, task {args.task}{' --fast' if args.fast else ''}, stand-in weights, CPU")
    print(f"{'':14} {'wall s':>8} {'prediction s':>13} {'overhead s/scan':>16}")
    overhead = {}
    for name, (wall, predicted) in rows.items():
        overhead[name] = (wall - predicted) / n
        print(f"{name:14} {wall:8.1f} {predicted:13.1f} {overhead[name]:16.2f}")
    print(f"per-scan overhead besides prediction: {overhead['one-scan jobs'] / overhead['one batch job']:.1f}x lower "
          f"in the batch (target >= 5); masks identical voxel for voxel: {same}")


if __name__ == "__main__":
    main()
