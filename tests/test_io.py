"""Tests of wbrad.io: atomic writes with their integrity records, TSV with NA, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wbrad.integrity import IntegrityError, sidecar
from wbrad.io import atomic_dir, atomic_path, read_tsv, read_tsvs, write_json, write_rows, write_tsv


def test_tsv_round_trip_with_na(tmp_path: Path) -> None:
    df = pd.DataFrame({"patient_id": ["P1", "NA_1"], "x": [1.5, np.nan], "note": [None, "ok"]})
    write_tsv(df, tmp_path / "sub" / "t.tsv")
    assert (tmp_path / "sub" / "t.tsv").read_text() == "patient_id\tx\tnote\nP1\t1.5\tNA\nNA_1\tNA\tok\n"
    back = read_tsv(tmp_path / "sub" / "t.tsv")
    assert back["patient_id"].tolist() == ["P1", "NA_1"]  # only the exact token NA is missing
    assert back["x"].isna().tolist() == [False, True] and back["note"].isna().tolist() == [True, False]


def _random_value(rng: np.random.Generator, kind: str) -> object:
    """A value of one column type, sometimes missing where the type can be missing."""
    if kind == "int":
        return [int(rng.integers(-10**6, 10**6)), np.int64(rng.integers(0, 99)), np.uint16(7)][int(rng.integers(3))]
    if kind == "bool":
        return bool(rng.integers(2)) if rng.random() < 0.5 else np.bool_(rng.integers(2))
    if rng.random() < 0.2:
        return [None, np.nan][int(rng.integers(2))]
    if kind == "float":
        x = float(rng.choice([1e-7, 1e-3, 1.0, 1e5, 1e17])) * rng.standard_normal()
        return [x, np.float64(x), np.float32(x), round(x, 2), float("inf")][int(rng.integers(5))]
    return ["P001", "a\tb", 'say "x"', "line\nbreak", "", "NA_1", "ü"][int(rng.integers(7))]


def test_write_rows_writes_what_write_tsv_writes(tmp_path: Path) -> None:
    """Byte for byte pandas' text, for one row of any values (NumPy floats of every width) and for tables whose
    columns each hold one type (None and NaN missing): ints, floats of every size, booleans, text to be quoted."""
    rng = np.random.default_rng(0)
    for case in range(200):
        kinds = rng.choice(["int", "bool", "float", "text", "missing"], size=int(rng.integers(1, 8)))
        columns = [f"c{k}" for k in range(len(kinds))]
        one_row = case % 4 == 0
        rows = [{c: _random_value(rng, k) for c, k in zip(columns, kinds, strict=True) if k != "missing"}
                for _ in range(1 if one_row else int(rng.integers(1, 5)))]
        if not one_row:  # a column of several rows is one type: 64-bit floats (pandas widens float32 beside None)
            for row in rows:
                row.update({c: float(row[c]) for c, k in zip(columns, kinds, strict=True) if k == "float"
                            and row[c] is not None})
        write_rows(rows, columns, tmp_path / "rows.tsv")
        write_tsv(pd.DataFrame(rows).reindex(columns=columns), tmp_path / "pandas.tsv")
        assert (tmp_path / "rows.tsv").read_bytes() == (tmp_path / "pandas.tsv").read_bytes(), rows
    assert read_tsv(tmp_path / "rows.tsv").shape[1] == len(columns)  # with its integrity record


def test_read_tsvs_is_the_concatenation_of_the_files(tmp_path: Path) -> None:
    """Headers interleaved (two files share one, parsed together), columns that only some files have, a column
    that is whole numbers in one file and missing in another, and a quoted line break (then file by file): the same
    table as pandas' concatenation of each file's read_tsv, in the files' order. A header-only file adds no row
    (pandas' concatenation would also make its columns text)."""
    tables = [pd.DataFrame({"patient_id": ["P1", "P2"], "a": [1, 2], "b": [0.5, np.nan]}),
              pd.DataFrame({"patient_id": ["P3"], "c": ["x"], "a": [3]}),
              pd.DataFrame({"patient_id": ["P4"], "a": [np.nan], "b": [1.5]}),
              pd.DataFrame({"patient_id": [], "a": [], "b": []}),
              pd.DataFrame({"patient_id": ["P5"], "c": ["y"], "a": [5]})]
    paths = [tmp_path / f"{k}.tsv" for k in range(len(tables))]
    for table, path in zip(tables, paths, strict=True):
        write_tsv(table, path)
    dtype = {"patient_id": "string"}
    for chosen in ([paths[k] for k in (0, 1, 2, 4)], paths[:1], [paths[1], paths[0], paths[4]]):
        expected = pd.concat([read_tsv(p, dtype=dtype) for p in chosen], ignore_index=True)
        pd.testing.assert_frame_equal(read_tsvs(chosen, dtype=dtype), expected)
    assert read_tsvs(paths, dtype=dtype)["patient_id"].tolist() == ["P1", "P2", "P3", "P4", "P5"]
    write_tsv(pd.DataFrame({"patient_id": ["P6"], "c": ["two\nlines"], "a": [6]}), paths[3])
    pd.testing.assert_frame_equal(read_tsvs(paths), pd.concat([read_tsv(p) for p in paths], ignore_index=True))
    assert read_tsvs(paths)["patient_id"].tolist() == ["P1", "P2", "P3", "P4", "P6", "P5"]


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
    # the segment job's temporary folder, and beside it those of the writes into it: the backend's own atomic_dir
    # and TotalSegmentator's working folder (all three are left when the job is killed)
    for name in (".seg.q1", "..seg.q1.r2", "..seg.q1.totalseg.s3", ".segment.t4", ".myseg.u5"):
        (tmp_path / name).mkdir()
    assert [p.name for p in remove_leftovers(tmp_path / "lesions.nii.gz")] == [".lesions.abc123.nii.gz",
                                                                              ".lesions.nii.gz.sha256.k2"]
    assert [p.name for p in remove_leftovers(tmp_path / "seg")] == ["..seg.q1.r2", "..seg.q1.totalseg.s3", ".seg.q1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lesions_ct.zz.tsv", ".myseg.u5", ".segment.t4",
                                                          "lesions.nii.gz"]
