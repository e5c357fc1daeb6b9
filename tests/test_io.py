"""Tests of wbrad.io: atomic writes, TSV with NA, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wbrad.io import atomic_dir, atomic_path, read_tsv, write_json, write_tsv


def test_tsv_round_trip_with_na(tmp_path: Path) -> None:
    df = pd.DataFrame({"patient_id": ["P1", "NA_1"], "x": [1.5, np.nan], "note": [None, "ok"]})
    write_tsv(df, tmp_path / "sub" / "t.tsv")
    assert (tmp_path / "sub" / "t.tsv").read_text() == "patient_id\tx\tnote\nP1\t1.5\tNA\nNA_1\tNA\tok\n"
    back = read_tsv(tmp_path / "sub" / "t.tsv")
    assert back["patient_id"].tolist() == ["P1", "NA_1"]  # only the exact token NA is missing
    assert back["x"].isna().tolist() == [False, True] and back["note"].isna().tolist() == [True, False]


def test_atomic_path_keeps_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "a.nii.gz"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.parent == tmp_path
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and oct(target.stat().st_mode & 0o777) == "0o644"


def test_atomic_dir_replaces_folder(tmp_path: Path) -> None:
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "stale.txt").write_text("x")
    with pytest.raises(ValueError), atomic_dir(tmp_path / "seg") as tmp:
        (tmp / "new.txt").write_text("y")
        raise ValueError
    assert [p.name for p in (tmp_path / "seg").iterdir()] == ["stale.txt"]
    with atomic_dir(tmp_path / "seg") as tmp:
        (tmp / "new.txt").write_text("y")
    assert [p.name for p in (tmp_path / "seg").iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg"]


def test_write_json_is_sorted_and_stable(tmp_path: Path) -> None:
    write_json({"b": 1, "a": [1.0, None]}, tmp_path / "p.json")
    text = (tmp_path / "p.json").read_text()
    assert json.loads(text) == {"a": [1.0, None], "b": 1} and text.index('"a"') < text.index('"b"')
    assert text.endswith("}\n")
