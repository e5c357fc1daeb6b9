"""The model stage on a synthetic 572-patient cohort table with 1,000 imaging features: seconds per model.

`python benchmarks/model_stage.py [--patients 572] [--features 1000] [--folds 5] [--repeats 1] [--threads 2]
[--transform yeo-johnson] [--models coxnet,rsf,gbs]` runs :func:`wbrad.model.run.model_endpoint` (nested CV,
metrics, plots, final refits) for OS on the clinical, imaging and clinical + imaging sets and prints, per feature
set and model, the wall seconds (cross-validation, metrics and final refit) with the C-index. The unpenalised Cox
runs on the clinical set only (it is the clinical baseline; with 1,000 features it has no unique solution).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from wbrad.io import read_tsv, write_tsv
from wbrad.model.run import model_endpoint
from wbrad.study import model_paths
from wbrad.testing.simulate import CLINICAL, IMAGING, cohort_table


def settings(args: argparse.Namespace, models: list[str]) -> dict:
    return {"endpoints": {"os": {"type": "survival", "time": "os_days", "event": "os_event"}},
            "feature_sets": {"clinical": {"columns": CLINICAL},
                             "imaging": {"columns": IMAGING + ["re:^ct_noise_"]},
                             "clinical+imaging": {"include": ["clinical", "imaging"]}},
            "models": models, "transform": args.transform, "landmark": {"column": "followup_day"},
            "cv": {"folds": args.folds, "repeats": args.repeats, "seed": 0, "bootstrap": 1000}}


def run(args: argparse.Namespace) -> pd.DataFrame:
    """Metrics with seconds per feature set and model; the clinical Cox baseline run separately."""
    table = cohort_table(args.patients, seed=11, n_noise=args.features - len(IMAGING))
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        write_tsv(table, Path(tmp) / "cohort.tsv")
        baseline = settings(args, ["cox"])
        baseline["feature_sets"] = {"clinical": baseline["feature_sets"]["clinical"]}
        for spec, name in ((baseline, "cox"), (settings(args, args.models.split(",")), "penalised")):
            model_endpoint(Path(tmp) / "cohort.tsv", "os", spec, model_paths(Path(tmp) / name, False), args.threads)
            frames.append(read_tsv(Path(tmp) / name / "metrics.tsv"))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=572)
    parser.add_argument("--features", type=int, default=1000, help="imaging features (3 true, the rest noise)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--transform", default="yeo-johnson", choices=["yeo-johnson", "standard"])
    parser.add_argument("--models", default="coxnet,rsf,gbs")
    args = parser.parse_args()
    start, cpu = time.perf_counter(), time.process_time()
    metrics = run(args)
    print(metrics[["feature_set", "model", "n", "events", "cindex", "uno_cindex", "ibs", "seconds"]]
          .to_string(index=False, float_format="%.3f"))
    print(f"\n{args.patients} patients, {args.features} imaging features, {args.folds} folds x {args.repeats} "
          f"repeats, {args.threads} threads, transform {args.transform}: {time.perf_counter() - start:.0f} s in all, "
          f"{time.process_time() - cpu:.0f} CPU s in this process (all of it with --threads 1)")


if __name__ == "__main__":
    main()
