"""Tests of wbrad.io: atomic writes with their integrity records, TSV with NA, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wbrad.integrity import IntegrityError, sidecar
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg", "seg.sha256"]  # the folder's one record
    assert list(json.loads((tmp_path / "seg.sha256").read_text())["files"]) == ["new.txt"]


def test_write_json_is_sorted_and_stable(tmp_path: Path) -> None:
    write_json({"b": 1, "a": [1.0, None]}, tmp_path / "p.json")
    text = (tmp_path / "p.json").read_text()
    assert json.loads(text) == {"a": [1.0, None], "b": 1} and text.index('"a"') < text.index('"b"')
    assert text.endswith("}\n")


def test_a_table_is_written_with_its_record_and_checked_when_read(tmp_path: Path) -> None:
    path = tmp_path / "results/P001/fu1/lesions_ct.tsv"
    write_tsv(pd.DataFrame({"lesion": range(1, 6), "volume_ml": 2.5}), path)
    record = json.loads(sidecar(path).read_text())
    assert record == {"bytes": path.stat().st_size, "rows": 5, "sha256": record["sha256"]}
    assert len(record["sha256"]) == 64
    assert read_tsv(path)["lesion"].tolist() == [1, 2, 3, 4, 5]
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # cut in half, the record kept
    sha = r"sha256 [0-9a-f]{16}\.\.\."
    message = (rf"^{path}: {len(whole) // 2:,} bytes, {sha} differs from its record \({len(whole):,} bytes, 5 rows, "
               rf"{sha}\): the file is damaged or was changed after it was written; rerun with `snakemake --forcerun "
               rf"{path}`")
    with pytest.raises(IntegrityError, match=message):
        read_tsv(path)


def test_a_table_without_a_record_is_read_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "legacy.tsv"
    path.write_text("a\tb\n1\tNA\n")
    assert read_tsv(path)["b"].isna().all()
    assert f"{path}: no integrity record (legacy.tsv.sha256): read unverified" in caplog.text


def test_a_damaged_record_is_an_error(tmp_path: Path) -> None:
    write_json({"a": 1}, tmp_path / "p.json")
    write_tsv(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv")
    assert json.loads(sidecar(tmp_path / "p.json").read_text())["bytes"] == (tmp_path / "p.json").stat().st_size
    sidecar(tmp_path / "t.tsv").write_text('{"sha256": ')
    with pytest.raises(IntegrityError, match=r"t\.tsv\.sha256: unreadable integrity record"):
        read_tsv(tmp_path / "t.tsv")


def test_a_write_without_a_record_leaves_none(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "x.txt", record=False) as tmp:
        tmp.write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_a_folder_written_inside_another_is_recorded_once(tmp_path: Path) -> None:
    with atomic_dir(tmp_path / "seg") as outer, atomic_dir(outer) as inner:  # a backend's own atomic_dir
        write_tsv(pd.DataFrame({"a": [1, 2]}), inner / "total" / "t.tsv")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "seg", "seg.sha256", "seg/total", "seg/total/t.tsv"]
    assert json.loads((tmp_path / "seg.sha256").read_text())["files"]["total/t.tsv"]["rows"] == 2


def test_a_rerun_removes_what_a_killed_writer_left_and_nothing_else(tmp_path) -> None:
    from wbrad.io import remove_leftovers

    for name in (".lesions.abc123.nii.gz", ".lesions.nii.gz.sha256.k2", ".lesions_ct.zz.tsv", "lesions.nii.gz"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".seg.q1").mkdir()
    assert [p.name for p in remove_leftovers(tmp_path / "lesions.nii.gz")] == [".lesions.abc123.nii.gz",
                                                                              ".lesions.nii.gz.sha256.k2"]
    assert [p.name for p in remove_leftovers(tmp_path / "seg")] == [".seg.q1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lesions_ct.zz.tsv", "lesions.nii.gz"]
