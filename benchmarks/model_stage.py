"""The model stage on a synthetic 572-patient cohort table with 1,000 imaging features: seconds per model.

`python benchmarks/model_stage.py [--patients 572] [--features 1000] [--folds 5] [--repeats 1] [--threads 2]
[--transform yeo-johnson] [--models coxnet,rsf,gbs] [--yeo-johnson vectorised|sklearn|both] [--select none|full]` runs
:func:`wbrad.model.run.model_endpoint` (nested CV,
metrics, plots, final refits) for OS on the clinical, imaging and clinical + imaging sets and prints, per feature
set and model, the wall seconds (cross-validation, metrics and final refit) with the C-index. The unpenalised Cox
runs on the clinical set only (it is the clinical baseline; with 1,000 features it has no unique solution).
``--yeo-johnson`` chooses the power transform's implementation (``both``: scikit-learn's PowerTransformer, then the
vectorised :class:`wbrad.model.transforms.YeoJohnson`, side by side) and reports the seconds spent fitting and applying
it, and their share of the models' seconds (counted in this process: exact with ``--threads 1``). ``--select full``
puts the selection steps in the folds of the imaging sets (near-zero variance, |Spearman r| > 0.9, 20 best by
univariate Cox; the clinical columns kept), as a feature set's ``select`` block does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.preprocessing import PowerTransformer

from wbrad.io import read_tsv, write_tsv
from wbrad.model import features
from wbrad.model.run import model_endpoint
from wbrad.model.transforms import YeoJohnson
from wbrad.study import model_paths
from wbrad.testing.simulate import CLINICAL, IMAGING, cohort_table

SPENT = {"seconds": 0.0, "depth": 0}  # seconds in the power transform's fit and transform, in this process


class _Timing:
    """Adds the seconds of fit, fit_transform and transform (outermost call only) to :data:`SPENT`."""

    def _timed(self, method, *args):
        SPENT["depth"] += 1
        start = time.perf_counter()
        try:
            return method(*args)
        finally:
            SPENT["depth"] -= 1
            SPENT["seconds"] += time.perf_counter() - start if SPENT["depth"] == 0 else 0.0

    def fit(self, X, y=None):
        return self._timed(super().fit, X, y)

    def fit_transform(self, X, y=None):
        return self._timed(super().fit_transform, X, y)

    def transform(self, X):
        return self._timed(super().transform, X)


class TimedPowerTransformer(_Timing, PowerTransformer):
    pass


class TimedYeoJohnson(_Timing, YeoJohnson):
    pass


IMPLEMENTATIONS = {"sklearn": TimedPowerTransformer, "vectorised": TimedYeoJohnson}


FULL_SELECTION = {"near_zero_variance": True, "correlation": 0.9, "univariate": 20, "keep": CLINICAL}


def settings(args: argparse.Namespace, models: list[str]) -> dict:
    select = {"select": FULL_SELECTION} if args.select == "full" else {}
    return {"endpoints": {"os": {"type": "survival", "time": "os_days", "event": "os_event"}},
            "feature_sets": {"clinical": {"columns": CLINICAL},
                             "imaging": {"columns": IMAGING + ["re:^ct_noise_"], **select},
                             "clinical+imaging": {"include": ["clinical", "imaging"], **select}},
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


def compare(args: argparse.Namespace) -> None:
    """Each implementation's seconds per feature set and model side by side, and the transform's share."""
    chosen = list(IMPLEMENTATIONS) if args.yeo_johnson == "both" else [args.yeo_johnson]
    tables, spent = [], {}
    for name in chosen:
        features.POWER_TRANSFORMER, SPENT["seconds"] = IMPLEMENTATIONS[name], 0.0
        metrics = run(args).set_index(["feature_set", "model"])
        spent[name] = (SPENT["seconds"], metrics.loc[metrics.index.get_level_values("model") != "cox", "seconds"].sum())
        tables.append(metrics[["n_selected", "cindex", "seconds"]].add_suffix(f" {name}"))
    print(pd.concat(tables, axis=1).to_string(float_format="%.3f"))
    for name, (transform, models) in spent.items():
        print(f"{name}: {transform:.1f} s in the power transform of {models:.1f} s of penalised models "
              f"({100 * transform / models:.1f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=572)
    parser.add_argument("--features", type=int, default=1000, help="imaging features (3 true, the rest noise)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--transform", default="yeo-johnson", choices=["yeo-johnson", "standard"])
    parser.add_argument("--models", default="coxnet,rsf,gbs")
    parser.add_argument("--yeo-johnson", default="vectorised", choices=[*IMPLEMENTATIONS, "both"])
    parser.add_argument("--select", default="none", choices=["none", "full"], help="selection in the folds")
    args = parser.parse_args()
    start, cpu = time.perf_counter(), time.process_time()
    compare(args)
    print(f"\n{args.patients} patients, {args.features} imaging features, {args.folds} folds x {args.repeats} "
          f"repeats, {args.threads} threads, transform {args.transform}: {time.perf_counter() - start:.0f} s in all, "
          f"{time.process_time() - cpu:.0f} CPU s in this process (all of it with --threads 1)")


if __name__ == "__main__":
    main()
