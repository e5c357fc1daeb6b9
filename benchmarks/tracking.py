"""Registration plus lesion matching of one follow-up on a demo-size synthetic scan (issue 13), on 2 cores.

`python benchmarks/tracking.py [--workdir DIR] [--seed 0] [--threads 2] [--affine]` writes one synthetic patient at
the demo size (``wbrad.synth.write_cohort(..., size="demo")``), takes its baseline CT and lesion map, and makes a
follow-up from it: moved by a known rigid transform (25 mm, 3 degrees), with the lesion labels permuted. It then times
``register`` + ``track_patient`` (resampling the follow-up lesion map and matching) and prints the seconds per
follow-up (aim: under 20 s), the centroid error of every lesion against the known transform, and whether every
lesion was matched to its own track. Not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from wbrad.io import read_tsv
from wbrad.synth import write_cohort
from wbrad.tracking.lesions import lesion_table
from wbrad.tracking.register import Settings, displacement_mm, register
from wbrad.tracking.tracks import track_patient

ROTATION_RAD = (np.radians(3.0), np.radians(-2.0), np.radians(2.0))
TRANSLATION_MM = (20.0, -15.0, 25.0)


def demo_scan(workdir: Path, seed: int) -> tuple[sitk.Image, sitk.Image]:
    """The baseline CT and lesion map of one demo-size synthetic patient."""
    manifest = read_tsv(write_cohort(workdir, n_patients=1, seed=seed, size="demo", pet_share=0.0, n_jobs=1))
    row = manifest[(manifest["timepoint"] == "baseline") & (manifest["modality"] == "CT")].iloc[0]
    return sitk.ReadImage(str(workdir / row["image"])), sitk.ReadImage(str(workdir / row["lesions"]))


def moved(ct: sitk.Image, labels: sitk.Image, truth: sitk.Transform,
          seed: int) -> tuple[sitk.Image, sitk.Image, dict[int, int]]:
    """The scan as a follow-up (``truth`` maps baseline to follow-up points), labels permuted; and the permutation."""
    inverse = truth.GetInverse()
    ct_f = sitk.Resample(ct, ct, inverse, sitk.sitkLinear, -1024.0, ct.GetPixelID())
    lab_f = sitk.GetArrayFromImage(sitk.Resample(labels, labels, inverse, sitk.sitkNearestNeighbor, 0))
    present = np.unique(lab_f[lab_f > 0])
    lookup = np.zeros(int(lab_f.max()) + 1, lab_f.dtype)
    lookup[present] = np.random.default_rng(seed).permutation(present)
    out = sitk.GetImageFromArray(lookup[lab_f])
    out.CopyInformation(labels)
    return ct_f, out, {int(k): int(lookup[k]) for k in present}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--affine", action="store_true", help="also fit the affine stage")
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ct, labels = demo_scan(args.workdir or Path(tmp), args.seed)
    centre = ct.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in ct.GetSize()])
    truth = sitk.Euler3DTransform(centre, *ROTATION_RAD, TRANSLATION_MM)
    ct_f, labels_f, permutation = moved(ct, labels, truth, args.seed)
    print(f"demo CT {ct.GetSize()} at {ct.GetSpacing()} mm, {len(lesion_table(labels))} lesions")
    start = time.perf_counter()
    transform = register(ct, ct_f, Settings(threads=args.threads, affine=args.affine))
    registered = time.perf_counter()
    tracks = track_patient(labels, [("fu1", (labels_f, transform))])
    done = time.perf_counter()
    table = lesion_table(labels)
    points = table[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy()
    error = displacement_mm(transform, truth, points)
    fu = tracks[tracks["timepoint"] == "fu1"]
    print(f"seconds per follow-up: {done - start:.1f} (registration {registered - start:.1f}, "
          f"matching {done - registered:.1f})")
    print(f"lesion centroid error vs the known transform, mm: mean {error.mean():.2f}, max {error.max():.2f}")
    print(f"statuses at fu1: {fu['status'].value_counts().to_dict()}")
    base = tracks[tracks["timepoint"] == "baseline"].set_index("track")["lesion"]
    right = sum(permutation.get(int(base[r.track])) == r.lesion for r in fu.itertuples() if r.status == "matched")
    print(f"correct matches: {right} of {len(permutation)} lesions present at the follow-up")


if __name__ == "__main__":
    main()
