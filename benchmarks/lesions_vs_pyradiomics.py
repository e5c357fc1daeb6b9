"""Our lesion stage versus pyradiomics' own batch command line, on one full-resolution CT with 20 lesions.

`python benchmarks/lesions_vs_pyradiomics.py [--workdir DIR] [--slices 300] [--lesions 20] [--jobs 2]` writes a
synthetic 512 x 512 x <slices> CT and its lesion map (uncompressed NIfTI, so neither side pays for decompression),
then runs, in the same run and with the same parameter file (params/ct.yaml) and the same number of workers:

- ``pyradiomics batch.csv --jobs 2 -p params/ct.yaml -o out.csv -f csv``: one CSV row per lesion (Image, Mask, Label);
- ``wbrad.lesions.run.extract_scan(..., threads=2)``: one job for the scan.

It prints wall time, peak memory (proportional set size summed over each command's process tree, sampled every
0.1 s, so forked workers' shared pages count once) and the largest relative difference over every feature of every
lesion. Targets (issue 7): at least 50 times faster, relative difference under 1e-6.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params" / "ct.yaml"
SPACING = (0.8, 0.8, 2.0)  # x, y, z in mm


def synthetic_ct(folder: Path, slices: int, n_lesions: int, seed: int = 0) -> tuple[Path, Path]:
    """A 512 x 512 x ``slices`` int16 CT (noisy body ellipse in air) with ``n_lesions`` textured ellipsoids."""
    rng = np.random.default_rng(seed)
    shape = (slices, 512, 512)
    y, x = np.ogrid[:512, :512]
    body = ((x - 256) / 220) ** 2 + ((y - 256) / 160) ** 2 <= 1
    ct = np.empty(shape, np.int16)
    for z in range(slices):  # slice by slice: no full-size float temporary
        noise = rng.standard_normal((512, 512), dtype=np.float32) * 20
        ct[z] = np.where(body, 40 + noise, -1000 + noise)
    labels = np.zeros(shape, np.uint16)
    for k in range(1, n_lesions + 1):
        radii_mm = rng.uniform(4, 15, 3)
        radii = radii_mm / np.array(SPACING[::-1])  # z, y, x voxels
        centre = [rng.uniform(r + 2, n - r - 2) for r, n in zip(radii, shape, strict=True)]
        centre[1:] = [256 + rng.uniform(-100, 100), 256 + rng.uniform(-150, 150)]
        lo = [max(int(c - r) - 1, 0) for c, r in zip(centre, radii, strict=True)]
        hi = [min(int(c + r) + 2, n) for c, r, n in zip(centre, radii, shape, strict=True)]
        grid = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
        inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True)) <= 1
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        labels[box][inside] = k
        texture = rng.normal(rng.uniform(30, 90), rng.uniform(10, 40), inside.sum())
        ct[box][inside] = np.clip(texture, -1000, 3000).astype(np.int16)
    paths = folder / "ct.nii", folder / "lesions.nii"
    for array, path in zip((ct, labels), paths, strict=True):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(SPACING)
        image.SetOrigin((-204.4, -204.4, -300.0))
        sitk.WriteImage(image, str(path))
    return paths


def run_measured(command: list[str], log: Path) -> tuple[float, float]:
    """Run ``command``; its wall seconds and peak PSS (MB) summed over its process tree."""
    peak = 0.0
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                total = 0
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.Error:  # a worker ended while its parent's children were listed: sample again
                    tree = []
                for p in tree:
                    try:
                        total += p.memory_full_info().pss
                    except psutil.Error:  # a worker that just ended
                        pass
                peak = max(peak, total / 2**20)
                done.wait(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    wall = time.perf_counter() - start
    if code:
        raise SystemExit(f"{command[0]} failed ({code}), see {log}")
    return wall, peak


def largest_relative_difference(ours: pd.DataFrame, theirs: pd.DataFrame) -> tuple[float, str, int]:
    """Largest |ours - theirs| / |theirs| (absolute where theirs is 0) over every feature and lesion."""
    ours = ours.set_index("lesion")
    theirs = theirs.set_index("Label")
    columns = [c for c in theirs.columns if c.startswith("original_")]
    missing = sorted(set(columns) - set(ours.columns))
    if missing or len(ours) != len(theirs):
        raise SystemExit(f"tables differ: {len(ours)} vs {len(theirs)} lesions, columns missing from ours: {missing}")
    a = ours.loc[theirs.index, columns].to_numpy(float)
    b = theirs[columns].map(lambda v: complex(str(v).strip("()")).real).to_numpy(float)
    diff = np.abs(a - b) / np.where(b == 0, 1.0, np.abs(b))
    i, j = np.unravel_index(np.nanargmax(diff), diff.shape)
    if np.isnan(a).sum() != np.isnan(b).sum():
        raise SystemExit("NaN in one table where the other has a value")
    return float(diff[i, j]), columns[j], int(theirs.index[i])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--lesions", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ct, lesions = synthetic_ct(work, args.slices, args.lesions)
        batch = work / "batch.csv"
        pd.DataFrame({"Image": str(ct), "Mask": str(lesions), "Label": range(1, args.lesions + 1)}).to_csv(
            batch, index=False)
        theirs_csv, ours_tsv = work / "pyradiomics.csv", work / "lesions_ct.tsv"
        theirs_csv.unlink(missing_ok=True)  # pyradiomics appends to -o
        pyradiomics = str(Path(sys.executable).with_name("pyradiomics"))
        t_theirs, m_theirs = run_measured([pyradiomics, str(batch), "--jobs", str(args.jobs), "-p", str(PARAMS),
                                           "-o", str(theirs_csv), "-f", "csv"], work / "pyradiomics.log")
        ours = ("from pathlib import Path; from wbrad.lesions.run import extract_scan; "
                f"extract_scan(Path('{ct}'), Path('{lesions}'), Path('{PARAMS}'), 'ct', 'BENCH', 'baseline', "
                f"Path('{ours_tsv}'), threads={args.jobs})")
        t_ours, m_ours = run_measured([sys.executable, "-c", ours], work / "ours.log")
        diff, column, lesion = largest_relative_difference(pd.read_csv(ours_tsv, sep="\t"), pd.read_csv(theirs_csv))
    print(f"CT 512 x 512 x {args.slices}, {args.lesions} lesions, {args.jobs} workers each, params {PARAMS.name}")
    print(f"{'':24}{'wall s':>10}{'peak MB':>10}")
    print(f"{'pyradiomics batch':24}{t_theirs:10.1f}{m_theirs:10.0f}")
    print(f"{'wbrad lesion stage':24}{t_ours:10.1f}{m_ours:10.0f}")
    print(f"speed-up {t_theirs / t_ours:.0f}x (target >= 50x); largest relative difference {diff:.2e} "
          f"({column}, lesion {lesion}; target < 1e-6)")


if __name__ == "__main__":
    main()
