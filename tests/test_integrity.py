"""Read what was written, all of it: cut and corrupted images and tables, cut with Python, are errors naming the file;
results carry integrity records that the next stage's reader and `wbrad audit --verify` check."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from wbrad import study as vocab
from wbrad.audit.verify import integrity_problems, scan_of
from wbrad.cli import main
from wbrad.convert.dicom import read_dicom_series
from wbrad.convert.nifti import check_payload
from wbrad.convert.run import convert_ct, convert_pet
from wbrad.delta.run import patient_delta
from wbrad.failures import ScanDataError
from wbrad.image import read_image, write_image
from wbrad.integrity import LEFTOVER, IntegrityError, sidecar, verify_tree
from wbrad.io import atomic_dir
from wbrad.lesions.run import extract_scan
from wbrad.nifti_header import read_header
from wbrad.segmentation import read_mask
from wbrad.synth import write_cohort
from wbrad.synth.dicom import write_ct_series

from .conftest import REPO
from .workflow.conftest import write_tiny_config

DAMAGED = r"differs from its record .*: the file is damaged or was changed after it was written; rerun with"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A tiny synthetic cohort (4 patients, PET for half) with the test config; P001 has a PET."""
    folder = tmp_path_factory.mktemp("integrity")
    write_cohort(folder / "cohort", n_patients=4, seed=2, size="tiny", pet_share=0.5, n_jobs=1)
    write_tiny_config(folder)
    return folder


def scan_input(study: Path, name: str, timepoint: str = "baseline") -> Path:
    return study / "cohort" / "images" / "P001" / timepoint / name


def cut(source: Path, target: Path, keep: float = 0.5) -> Path:
    """``target``: the first ``keep`` of ``source``'s bytes, as an interrupted copy leaves it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


def flip(source: Path, target: Path) -> Path:
    """``target``: ``source`` with its middle byte inverted."""
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def uncompressed(source: Path, target: Path) -> Path:
    target.write_bytes(gzip.decompress(source.read_bytes()))
    return target


def convert_inputs(study: Path, out: Path, ct: Path, lesions: Path | None) -> None:
    convert_ct(ct, lesions, out / "ct.nii.gz", out / "lesions.nii.gz", out / "provenance.json", "P001", "baseline")


# --- study inputs: the whole payload, or an error naming patient, timepoint and file ----------------------------------
@pytest.mark.parametrize("damage", ["cut .nii.gz", "cut .nii", "flipped byte"])
def test_a_cut_or_corrupt_ct_is_an_error_naming_scan_and_file(study: Path, tmp_path: Path, damage: str) -> None:
    ct = scan_input(study, "ct.nii.gz")
    bad = {"cut .nii.gz": lambda: cut(ct, tmp_path / "ct.nii.gz"),
           "cut .nii": lambda: cut(uncompressed(ct, tmp_path / "full.nii"), tmp_path / "ct.nii"),
           "flipped byte": lambda: flip(ct, tmp_path / "ct.nii.gz")}[damage]()
    why = r"cut off: [\d,]+ bytes where its header declares" if damage == "cut .nii" else r"damaged or cut-off gzip"
    with pytest.raises(ValueError, match=rf"^P001 baseline {bad}: {why}"):
        convert_inputs(study, tmp_path / "out", bad, None)
    assert not (tmp_path / "out" / "ct.nii.gz").exists()


def test_a_cut_lesion_mask_is_an_error_naming_it(study: Path, tmp_path: Path) -> None:
    bad = cut(scan_input(study, "lesions.nii.gz"), tmp_path / "lesions.nii.gz")
    assert sitk.ReadImage(str(bad)).GetPixelID() == sitk.sitkUInt16  # ITK alone reads it, zeros for the lost half
    with pytest.raises(ValueError, match=rf"^P001 baseline {bad}: damaged or cut-off gzip stream"):
        convert_inputs(study, tmp_path / "out", scan_input(study, "ct.nii.gz"), bad)


def test_a_cut_pet_is_an_error_naming_it(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_inputs(study, out, scan_input(study, "ct.nii.gz"), scan_input(study, "lesions.nii.gz"))
    bad = cut(scan_input(study, "pet.nii.gz"), tmp_path / "pet.nii.gz")
    with pytest.raises(ValueError, match=rf"^P001 baseline {bad}: damaged or cut-off gzip stream"):
        convert_pet(bad, out / "ct.nii.gz", out / "pet.nii.gz", out / "pet_ct.nii.gz", out / "p.json", "P001",
                    "baseline")


@pytest.mark.parametrize("name", ["ct.nii.gz", "lesions.nii.gz", "pet.nii.gz", "ct.nii"])
def test_an_intact_input_reads_as_itk_reads_it(study: Path, tmp_path: Path, name: str) -> None:
    path = (uncompressed(scan_input(study, "ct.nii.gz"), tmp_path / name) if name == "ct.nii"
            else scan_input(study, name))
    ours, itk = read_image(path), sitk.ReadImage(str(path))
    assert ours.GetPixelID() == itk.GetPixelID() and ours.GetSize() == itk.GetSize()
    assert ours.GetOrigin() == itk.GetOrigin() and ours.GetSpacing() == itk.GetSpacing()
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(ours), sitk.GetArrayViewFromImage(itk))


def test_a_dicom_slice_cut_in_its_pixels_is_an_error_naming_the_file(tmp_path: Path) -> None:
    hu = (np.arange(4 * 32 * 32, dtype=np.int16).reshape(4, 32, 32) % 900) - 100
    write_ct_series(hu, (0.8, 0.9, 2.5), (-10.0, 20.0, 30.0), tmp_path / "ct")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_dicom_series(tmp_path / "ct", "P1 fu1")), hu)
    victim = sorted((tmp_path / "ct").iterdir())[2]
    cut(victim, victim, keep=0.9)
    with pytest.raises(ValueError, match=rf"^P1 fu1: {victim}: PixelData \(7FE0,0010\) holds [\d,]+ bytes where "
                                         r"Rows x Columns x frames x samples x BitsAllocated / 8 is 2,048: a cut-off"):
        read_dicom_series(tmp_path / "ct", "P1 fu1")


# --- results: records written with the file, checked by the next reader ----------------------------------------------
def test_a_result_image_cut_after_it_was_written_is_an_error_naming_it(study: Path, tmp_path: Path) -> None:
    ct = tmp_path / "results/P001/baseline/ct.nii.gz"
    write_image(read_image(scan_input(study, "ct.nii.gz")), ct)
    assert read_image(ct).GetSize() == sitk.ReadImage(str(ct)).GetSize()
    record = sidecar(ct).read_text()
    assert '"voxels": ' in record and '"sha256": ' in record and '"bytes": ' in record
    cut(ct, ct)
    with pytest.raises(IntegrityError, match=rf"^P001 baseline: {ct}: [\d,]+ bytes, sha256 \w+\.\.\. {DAMAGED} "
                                             rf"`snakemake --forcerun {ct}`"):
        read_image(ct, "P001 baseline")


def test_a_segmentation_folder_is_recorded_once_and_its_masks_checked(study: Path, tmp_path: Path) -> None:
    source = scan_input(study, "seg")
    ct = read_image(scan_input(study, "ct.nii.gz"))
    seg = tmp_path / "seg"
    with atomic_dir(seg) as tmp:
        shutil.copytree(source / "total", tmp / "total")  # as a backend leaves its files: no records
        write_image(read_image(source / "tissue_types/skeletal_muscle.nii.gz"), tmp / "tissue_types/muscle.nii.gz")
    assert not list(seg.rglob("*.sha256")) and sidecar(seg).is_file()
    liver = seg / "total/liver.nii.gz"
    assert read_mask(liver, ct, "ct").GetPixelID() == sitk.sitkUInt8
    assert verify_tree(tmp_path) == []
    flip(liver, liver)
    with pytest.raises(IntegrityError, match=rf"^{liver}: .*{DAMAGED} `snakemake --forcerun {seg}`"):
        read_mask(liver, ct, "ct")
    (seg / "tissue_types/muscle.nii.gz").unlink()
    shutil.copyfile(source / "total/spleen.nii.gz", seg / "total/extra.nii.gz")
    assert [(f.path.name, f.kind) for f in verify_tree(tmp_path)] == [
        ("muscle.nii.gz", "missing"), ("extra.nii.gz", "unrecorded"), ("liver.nii.gz", "damaged")]


@pytest.fixture(scope="module")
def results(study: Path) -> Path:
    """P001's baseline and fu1 converted, their CT lesions extracted and the delta tables written, as the workflow's
    jobs write them (library calls, paths from the study's templates); returns the working directory."""
    where = {"patient": "P001"}
    for timepoint in ("baseline", "fu1"):
        scan = {**where, "timepoint": timepoint}
        out = {name: study / vocab.path(template, **scan) for name, template in
               (("ct", vocab.CT_IMAGE), ("lesions", vocab.LESION_MAP), ("provenance", vocab.CT_PROVENANCE))}
        convert_ct(scan_input(study, "ct.nii.gz", timepoint), scan_input(study, "lesions.nii.gz", timepoint),
                   out["ct"], out["lesions"], out["provenance"], "P001", timepoint)
        extract_scan(out["ct"], out["lesions"], REPO / "params/ct.yaml", "CT", "P001", timepoint,
                     study / vocab.path(vocab.LESION_TABLE, **scan, modality="ct"))
    run_delta(study)
    return study


def lesion_tables(study: Path) -> dict[tuple[str, str], Path]:
    return {(tp, "CT"): study / vocab.path(vocab.LESION_TABLE, patient="P001", timepoint=tp, modality="ct")
            for tp in ("baseline", "fu1")}


def run_delta(study: Path) -> None:
    dates = {"baseline": "2020-03-14", "fu1": "2020-07-01"}
    out = [study / vocab.path(t, patient="P001") for t in (vocab.AGGREGATES, vocab.DELTA, vocab.DELTA_LESIONS)]
    patient_delta("P001", lesion_tables(study), dates, "baseline", *out)


def test_an_intact_results_tree_verifies_clean(results: Path) -> None:
    assert integrity_problems(results / vocab.RESULTS) == []
    table = lesion_tables(results)[("fu1", "CT")]
    record = json.loads(sidecar(table).read_text())
    assert record["rows"] == len(pd.read_csv(table, sep="\t")) and record["bytes"] == table.stat().st_size


def test_a_cut_lesion_table_is_caught_by_delta_and_by_audit_verify(results: Path, capsys) -> None:
    table = lesion_tables(results)[("fu1", "CT")]
    rows = len(pd.read_csv(table, sep="\t"))
    saved, stat = table.read_bytes(), table.stat()
    try:
        cut(table, table)
        os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime kept: Snakemake sees nothing
        relative = table.relative_to(results)
        with pytest.raises(IntegrityError, match=rf"{table}: [\d,]+ bytes, sha256 \w+\.\.\. differs from its record "
                                                 rf"\({len(saved):,} bytes, {rows:,} rows, sha256"):
            run_delta(results)
        problems = integrity_problems(results / vocab.RESULTS)
        assert [(p.patient, p.timepoint, p.check, p.severity) for p in problems] == [
            ("P001", "fu1", "integrity (damaged)", "blocking")]
        config = [str(REPO / "config.yaml"), str(results / "tiny.yaml")]
        code = main(["audit", "--verify", "--strict", "--configfile", *config, "--directory", str(results),
                     "--out", str(results / "audit")])
        assert code == 1
        listed = pd.read_csv(results / "audit/problems.tsv", sep="\t", keep_default_na=False)
        damaged = listed[listed.check == "integrity (damaged)"]
        assert damaged[["patient", "timepoint", "severity"]].values.tolist() == [["P001", "fu1", "blocking"]]
        assert damaged.detail.item().startswith(f"{relative}: ") and "differs from its record" in damaged.detail.item()
        assert "integrity (damaged)" in capsys.readouterr().out
    finally:
        table.write_bytes(saved)
    assert integrity_problems(results / vocab.RESULTS) == []


def test_an_unrecorded_table_is_read_with_a_warning_and_listed_by_verify(tmp_path: Path, caplog) -> None:
    from wbrad.io import read_tsv

    legacy = tmp_path / vocab.path(vocab.AGGREGATES, patient="P009")
    legacy.parent.mkdir(parents=True)
    pd.DataFrame({"patient_id": ["P009"]}).to_csv(legacy, sep="\t", index=False)
    assert read_tsv(legacy)["patient_id"].tolist() == ["P009"]
    assert "no integrity record (aggregates.tsv.sha256): read unverified" in caplog.text
    problems = integrity_problems(tmp_path / vocab.RESULTS)
    assert [(p.patient, p.timepoint, p.check, p.severity) for p in problems] == [
        ("P009", "", "integrity (unrecorded)", "blocking")]


def test_findings_are_placed_by_the_study_templates() -> None:
    assert scan_of("results/P001/fu1/seg/total/liver.nii.gz") == ("P001", "fu1")
    assert scan_of("results/P001/aggregates.tsv") == ("P001", "")
    assert scan_of("results/cohort/cohort.tsv") == scan_of("results/models/os/km.png") == ("", "")


# --- a killed writer -------------------------------------------------------------------------------------------------
WRITER = """
import sys
import numpy as np, SimpleITK as sitk
from wbrad.image import write_image
write_image(sitk.GetImageFromArray(np.random.default_rng(0).random((160, 256, 256), dtype=np.float32)), sys.argv[1])
"""


def test_a_writer_killed_mid_write_leaves_no_file_and_a_rerun_works(tmp_path: Path) -> None:
    target = tmp_path / vocab.path(vocab.PET_SUV, patient="P001", timepoint="baseline")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
    deadline = time.monotonic() + 60
    while not list(target.parent.glob(".pet_suv.*")) and time.monotonic() < deadline and writer.poll() is None:
        time.sleep(0.02)
    time.sleep(0.2)  # well into compressing 40 MB of noise
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert not target.exists() and not sidecar(target).exists()
    leftovers = verify_tree(tmp_path / vocab.RESULTS)
    assert [f.kind for f in leftovers] == [LEFTOVER] and leftovers[0].path.name.startswith(".pet_suv.")
    image = sitk.GetImageFromArray(np.ones((4, 5, 6), np.float32))
    write_image(image, target)  # the rerun: a new temporary name, the leftover in no one's way
    assert sitk.GetArrayFromImage(read_image(target)).sum() == 120
    assert [f.kind for f in verify_tree(tmp_path / vocab.RESULTS)] == [LEFTOVER]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("byte_order", ["<", ">"])
@pytest.mark.parametrize(("dtype", "shape"), [("u1", (3, 4, 5)), ("i2", (2, 3, 4, 2)), ("f4", (7,)), ("f8", (2, 2, 1))])
def test_the_header_reader_declares_what_nibabel_reads(tmp_path: Path, version: int, byte_order: str, dtype: str,
                                                       shape: tuple[int, ...]) -> None:
    header = (nib.Nifti1Header if version == 1 else nib.Nifti2Header)(endianness=byte_order)
    image = (nib.Nifti1Image if version == 1 else nib.Nifti2Image)(np.zeros(shape, dtype), np.eye(4), header)
    for name in ("image.nii", "image.nii.gz"):
        nib.save(image, tmp_path / name)
        theirs = nib.load(tmp_path / name)
        ours = read_header(tmp_path / name)
        assert (ours.shape, ours.dtype, ours.offset) == (theirs.dataobj.shape, theirs.header.get_data_dtype(),
                                                 int(theirs.dataobj.offset))
    assert theirs.header.endianness == byte_order


def test_a_file_without_a_nifti_header_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ct.nii").write_bytes(b"\0" * 400)
    with pytest.raises(ScanDataError, match=r"ct.nii: not a readable NIfTI header: no NIfTI-1 or NIfTI-2 header"):
        check_payload(tmp_path / "ct.nii")
