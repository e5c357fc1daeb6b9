"""Feature sets (exact names, ``re:`` patterns, ``include``), the in-fold preprocessing of their columns, and what
it imputes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from wbrad.model.transforms import YeoJohnson
from wbrad.study import MODALITY_OF_FILE

IMAGING_COLUMNS = rf"^(bc|{'|'.join(MODALITY_OF_FILE)}|delta|burden)_"  # the cohort's columns measured on scans
NUMERIC_IMPUTATION, CATEGORICAL_IMPUTATION = "median", "most_frequent"  # SimpleImputer strategies
IMPUTED_COLUMNS = ["feature_set", "feature", "n_missing", "share", "method"]


def resolve_feature_set(name: str, feature_sets: dict, columns: list[str], _seen: tuple[str, ...] = ()) -> list[str]:
    """The cohort columns of feature set ``name``, in the order they are named, without duplicates.

    A set has ``columns`` (exact names, or regular expressions prefixed ``re:`` matched with ``re.search``)
    and/or ``include`` (other sets). A missing exact column, an unknown or cyclic include, or an empty set is an error.
    """
    if name in _seen:
        raise ValueError(f"feature set {name!r} includes itself: {' -> '.join((*_seen, name))}")
    if name not in feature_sets:
        raise KeyError(f"feature set {name!r} is not defined (known: {sorted(feature_sets)})")
    spec = feature_sets[name]
    chosen: list[str] = []
    for included in spec.get("include", []):
        chosen += resolve_feature_set(included, feature_sets, columns, (*_seen, name))
    for item in spec.get("columns", []):
        if item.startswith("re:"):
            pattern = re.compile(item.removeprefix("re:"))
            chosen += [c for c in columns if pattern.search(c)]
        elif item in columns:
            chosen.append(item)
        else:
            raise KeyError(f"feature set {name!r}: column {item!r} is not in the cohort table")
    chosen = list(dict.fromkeys(chosen))
    if not chosen and not _seen:
        raise ValueError(f"feature set {name!r} selects no column of the cohort table")
    return chosen


def _as_object(X: pd.DataFrame) -> pd.DataFrame:
    """Strings as plain objects with ``None`` for missing, which SimpleImputer and OneHotEncoder expect."""
    return X.astype(object).where(X.notna(), None).astype(object)


TRANSFORMS = ("standard", "yeo-johnson")
NUMERIC, CATEGORICAL = make_column_selector(dtype_include=np.number), make_column_selector(dtype_exclude=np.number)
# the yeo-johnson step's class: the vectorised fit; benchmarks/model_stage.py swaps in scikit-learn's PowerTransformer
POWER_TRANSFORMER: type = YeoJohnson


def preprocessor(transform: str = "standard") -> ColumnTransformer:
    """Numeric columns: median imputation, constant-column filter, then ``transform``; others: mode, one-hot.

    ``standard`` scales to unit variance (coefficients convert back to the original units); ``yeo-johnson`` first
    makes each column as normal as it can (a power transform fitted in the fold, for skewed volumes and lab values),
    then standardises (:class:`~wbrad.model.transforms.YeoJohnson`: scikit-learn's ``PowerTransformer`` estimates,
    all columns fitted at once).

    Columns are chosen by dtype when fitted (numbers numeric; strings, booleans, categories categorical). Output
    feature names are the cohort's column names (one-hot columns ``<column>_<level>``, first level dropped).
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r} (known: {', '.join(TRANSFORMS)})")
    scaler = StandardScaler() if transform == "standard" else POWER_TRANSFORMER()
    numeric_steps = make_pipeline(SimpleImputer(strategy=NUMERIC_IMPUTATION), VarianceThreshold(0.0), scaler)
    categorical_steps = make_pipeline(
        FunctionTransformer(_as_object, feature_names_out="one-to-one"),
        SimpleImputer(strategy=CATEGORICAL_IMPUTATION, missing_values=None),
        OneHotEncoder(drop="first", handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer([("num", numeric_steps, NUMERIC), ("cat", categorical_steps, CATEGORICAL)],
                             verbose_feature_names_out=False)


def output_scales(pre: ColumnTransformer) -> pd.Series:
    """Per output feature of a fitted :func:`preprocessor`, the standard deviation it was divided by (1 if none)."""
    names = pre.get_feature_names_out()
    scales = pd.Series(1.0, index=names)
    numeric = pre.named_transformers_["num"]
    if hasattr(numeric[-1], "scale_"):  # fitted, i.e. there were numeric columns
        scales[numeric.get_feature_names_out()] = numeric[-1].scale_
    return scales


def imputed_values(X: pd.DataFrame, feature_set: str) -> pd.DataFrame:
    """Per column of ``X`` (one feature set's patients), how many values the :func:`preprocessor` imputes
    (``n_missing``, ``share`` of the patients) and how: ``median`` (numbers) or ``most_frequent`` (others), learned
    in each training fold (and on all patients for the final model)."""
    numeric = set(NUMERIC(X))
    missing = X.isna().sum()
    methods = [NUMERIC_IMPUTATION if c in numeric else CATEGORICAL_IMPUTATION for c in X.columns]
    return pd.DataFrame({"feature_set": feature_set, "feature": X.columns, "n_missing": missing.to_numpy(),
                         "share": (missing / max(len(X), 1)).round(4).to_numpy(), "method": methods},
                        columns=IMPUTED_COLUMNS)


def imaging_columns(columns: list[str], pattern: str = IMAGING_COLUMNS) -> list[str]:
    """The columns measured on scans (names matching ``pattern``, by default ``bc_``, ``ct_``, ``pet_``, ``delta_``,
    ``burden_``)."""
    return [c for c in columns if re.search(pattern, c)]


def without_imaging(table: pd.DataFrame, pattern: str = IMAGING_COLUMNS) -> pd.Series:
    """Per patient (row), True where every imaging column of the cohort table is missing: no scan."""
    columns = imaging_columns(list(table.columns), pattern)
    return table[columns].isna().all(axis=1) if columns else pd.Series(False, index=table.index)
