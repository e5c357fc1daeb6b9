"""Between-scanner difference of radiomics features in a finished run's cohort table, before and after ComBat fitted
inside cross-validation folds (issue 17): each test fold is harmonised with estimates learned on the other folds only.

The difference of a feature is the largest gap between scanner means on the test rows in units of its pooled SD
(a standardised mean difference); reported per feature and as the median over the texture features.

    python benchmarks/combat_scanners.py [results/cohort/cohort.tsv] [--feature ct_vwmean_original_glcm_JointEntropy]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from wbrad.model.harmonise import ComBat

TEXTURE = r"^ct_vwmean_original_(glcm|glrlm|glszm|gldm|ngtdm)_"


def scanner_gap(values: pd.Series, scanner: pd.Series) -> float:
    """Largest difference between scanner means, in pooled within-scanner SDs."""
    means = values.groupby(scanner).mean()
    pooled = np.sqrt(values.groupby(scanner).var(ddof=1).mean())
    return float((means.max() - means.min()) / pooled) if pooled > 0 else float("nan")


def harmonised_in_folds(table: pd.DataFrame, features: list[str], folds: int, seed: int) -> pd.DataFrame:
    """Every row's features harmonised by a ComBat fitted on the other folds (folds stratified by scanner)."""
    out = table[features].copy()
    split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(table, table["scanner"])
    for train, test in split:
        combat = ComBat(batch="scanner", features=features).fit(table.iloc[train][["scanner", *features]])
        out.iloc[test] = combat.transform(table.iloc[test][["scanner", *features]])[features].to_numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", nargs="?", default="results/cohort/cohort.tsv")
    parser.add_argument("--feature", default="ct_vwmean_original_glcm_JointEntropy")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cohort = pd.read_csv(args.cohort, sep="\t")
    texture = cohort.filter(regex=TEXTURE)
    features = [c for c in texture.columns if texture[c].notna().mean() >= 0.8 and texture[c].std() > 0]
    table = cohort.dropna(subset=["scanner", *features]).reset_index(drop=True)  # patients with baseline lesions
    after = harmonised_in_folds(table, features, args.folds, args.seed)
    gaps = pd.DataFrame({"before": [scanner_gap(table[f], table["scanner"]) for f in features],
                         "after": [scanner_gap(after[f], table["scanner"]) for f in features]}, index=features)
    counts = table["scanner"].value_counts().sort_index().to_dict()
    print(f"{len(table)} patients, scanners {counts}; ComBat fitted in {args.folds} folds")
    print(f"{args.feature}: scanner means before {table.groupby('scanner')[args.feature].mean().round(3).to_dict()}, "
          f"after {after.groupby(table['scanner'])[args.feature].mean().round(3).to_dict()}; gap (pooled SDs) "
          f"{gaps.at[args.feature, 'before']:.2f} -> {gaps.at[args.feature, 'after']:.2f}")
    print(f"{len(features)} CT texture features: median gap {gaps['before'].median():.2f} -> "
          f"{gaps['after'].median():.2f}; reduced for {int((gaps['after'] < gaps['before']).sum())}")


if __name__ == "__main__":
    main()
