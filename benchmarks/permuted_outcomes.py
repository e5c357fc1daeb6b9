"""Leakage check on a finished run (issue 17): the model stage on the run's own cohort table with the outcome
permuted between patients, so that no feature can predict it. Every fitted step (ComBat, the selection filters,
the model) sits inside the folds, so the cross-validated C-index (survival) or AUROC (binary) must stay near 0.5.

    python benchmarks/permuted_outcomes.py [results/cohort/cohort.tsv] [--seeds 5] [--feature-set radiomics_wide]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from wbrad import study
from wbrad.io import write_tsv
from wbrad.model.endpoints import endpoint_from_settings
from wbrad.model.run import model_endpoint


def permuted(cohort: pd.DataFrame, columns: list[str], seed: int) -> pd.DataFrame:
    """``cohort`` with the rows of ``columns`` shuffled together (an outcome's time and event stay paired)."""
    order = np.random.default_rng(seed).permutation(len(cohort))
    return cohort.assign(**{c: cohort[c].to_numpy()[order] for c in columns})


def outcome_columns(settings: dict, endpoint: str) -> list[str]:
    target = endpoint_from_settings(endpoint, settings)
    return [c for c in (target.time, target.event, target.column) if c]


def score(cohort: pd.DataFrame, endpoint: str, settings: dict, work: Path) -> pd.DataFrame:
    binary = settings["endpoints"][endpoint].get("type") == "binary"
    names = study.BINARY_OUTPUTS if binary else study.SURVIVAL_OUTPUTS
    outputs = {k: str(work / Path(study.MODEL_FILES[k]).name) for k in names}
    write_tsv(cohort, work / "cohort.tsv")
    model_endpoint(work / "cohort.tsv", endpoint, settings, outputs)
    metrics = pd.read_csv(outputs["metrics"], sep="\t")
    return metrics.assign(score=metrics["auroc" if binary else "cindex"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", nargs="?", default="results/cohort/cohort.tsv")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--feature-set", default="radiomics_wide")
    parser.add_argument("--endpoints", nargs="*", default=None, help="default: every configured endpoint")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    settings = yaml.safe_load(Path(args.config).read_text())["model"]
    settings["feature_sets"] = {args.feature_set: settings["feature_sets"][args.feature_set]}
    robustness = Path(args.cohort).with_name(Path(study.ROBUSTNESS).name)  # the run's ICC table, as the model rule
    if robustness.is_file():
        settings["robustness_table"] = str(robustness)
    cohort = pd.read_csv(args.cohort, sep="\t", dtype={"patient_id": str})
    for endpoint in args.endpoints or list(settings["endpoints"]):
        scores = []
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as work:
                table = permuted(cohort, outcome_columns(settings, endpoint), seed)
                scores.append(score(table, endpoint, settings, Path(work)).set_index("model")["score"])
        table = pd.concat(scores, axis=1)
        for model, row in table.iterrows():
            print(f"{endpoint} {args.feature_set} {model}: permuted-outcome score over {args.seeds} seeds mean "
                  f"{row.mean():.3f} (min {row.min():.3f}, max {row.max():.3f})")


if __name__ == "__main__":
    main()
