"""Tests of the totalsegmentator backend: preflight, the dataset table, trainer lookup, runs with stand-in weights.

The tests that run TotalSegmentator itself need its virtual environment (`make totalseg`, part of `make test`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wbrad.bodycomp.backends import SegmentationBackend, configured_backend, get_backend
from wbrad.bodycomp.backends.totalsegmentator import DATASETS, MODEL_FILES, TASKS, TotalSegmentatorBackend

from .conftest import REPO, SHARED_DATA

TOTALSEG_PYTHON = REPO / ".venv-totalseg" / "bin" / "python"
EXAMPLE_CT = SHARED_DATA / "totalsegmentator_refs" / "reference_files" / "example_ct_sm.nii.gz"


def need_totalseg() -> None:
    if not TOTALSEG_PYTHON.exists():
        pytest.skip(f"TotalSegmentator's virtual environment not found: {TOTALSEG_PYTHON} (run `make totalseg`)")


def run_in_totalseg(*args: str) -> str:
    """Run TotalSegmentator's Python with src/ on the path; its stdout."""
    result = subprocess.run(
        [str(TOTALSEG_PYTHON), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=300,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def fake_weights(weights: Path, *dataset_ids: int) -> None:
    """Empty files where TotalSegmentator looks for the models (enough for the preflight)."""
    for dataset_id in dataset_ids:
        folder, trainer = DATASETS[dataset_id]
        for name in MODEL_FILES:
            path = weights / folder / f"{trainer}__nnUNetPlans__3d_fullres" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()


def test_preflight_names_each_missing_dataset_folder_and_how_to_install(tmp_path: Path) -> None:
    backend = get_backend("totalsegmentator", python=sys.executable, weights=str(tmp_path), tasks=["total"])
    assert isinstance(backend, SegmentationBackend)
    problems = backend.preflight()
    assert len(problems) == 5  # the five `total` parts 291..295
    assert (
        "Dataset292_TotalSegmentator_part2_vertebrae_1532subj/nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres "
        "lacks dataset.json, plans.json, fold_0/checkpoint_final.pth" in problems[1]
    )
    assert "totalseg_download_weights -t total" in problems[1] and str(tmp_path) in problems[1]


def test_preflight_passes_with_the_model_files_of_the_configured_tasks(tmp_path: Path) -> None:
    backend = TotalSegmentatorBackend(python=sys.executable, weights=str(tmp_path), fast=True)
    assert backend.datasets() == [297]
    fake_weights(tmp_path, 297)
    assert backend.preflight() == []
    with_roi = TotalSegmentatorBackend(
        python=sys.executable, weights=str(tmp_path), fast=True, roi_subset=("vertebrae_L3",)
    )
    assert with_roi.datasets() == [297, 298]
    assert "Dataset298_TotalSegmentator_total_6mm_1559subj" in with_roi.preflight()[0]


def test_preflight_asks_for_the_licence_and_the_interpreter(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MY_TS_KEY", raising=False)
    fake_weights(tmp_path, 481)
    backend = TotalSegmentatorBackend(
        python="no/such/python", weights=str(tmp_path), tasks=("tissue_types",), licence_env="MY_TS_KEY"
    )
    problems = backend.preflight()
    assert len(problems) == 2
    assert problems[0].startswith("TotalSegmentator's Python no/such/python not found: run `make totalseg`")
    assert "task tissue_types needs a TotalSegmentator licence key in the environment variable MY_TS_KEY" in problems[1]
    assert problems[1].endswith("or use the licence-free route (bodycomp: tissue_source: licence_free)")
    monkeypatch.setenv("MY_TS_KEY", "aca_0000")
    assert len(backend.preflight()) == 1


def test_weights_default_to_totalsegmentators_own_rule(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TOTALSEG_WEIGHTS_PATH", raising=False)
    monkeypatch.setenv("TOTALSEG_HOME_DIR", str(tmp_path))
    assert TotalSegmentatorBackend().weights_dir == tmp_path / "nnunet" / "results"
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(tmp_path / "w"))
    assert TotalSegmentatorBackend().weights_dir == tmp_path / "w"


def test_configured_backend_and_unknown_task() -> None:
    backend = configured_backend({"backend": "totalsegmentator", "totalsegmentator": {"fast": True}})
    assert isinstance(backend, TotalSegmentatorBackend) and backend.fast
    assert configured_backend({"backend": "precomputed"}).preflight() == []
    with pytest.raises(ValueError, match=r"unknown TotalSegmentator task\(s\) \['organs'\]"):
        TotalSegmentatorBackend(tasks=("organs",))


def test_segment_refuses_to_start_without_weights(tmp_path: Path) -> None:
    backend = TotalSegmentatorBackend(python=sys.executable, weights=str(tmp_path), fast=True)
    with pytest.raises(
        FileNotFoundError,
        match=r"cannot segment ct\.nii\.gz: TotalSegmentator weights missing: .*"
        r"Dataset297_TotalSegmentator_total_3mm_1559subj",
    ):
        backend.segment(Path("ct.nii.gz"), tmp_path / "seg")


def test_a_failing_totalsegmentator_names_the_ct(tmp_path: Path) -> None:
    """wbrad's own Python has no TotalSegmentator: the runner fails and the error names the CT and the cause."""
    fake_weights(tmp_path / "w", 297)
    backend = TotalSegmentatorBackend(python=sys.executable, weights=str(tmp_path / "w"), fast=True, device="cpu")
    with pytest.raises(
        RuntimeError,
        match=r"TotalSegmentator failed on .*example_ct_sm\.nii\.gz \(exit 1\):"
        r"(.|\n)*No module named 'totalsegmentator'",
    ):
        backend.segment(EXAMPLE_CT, tmp_path / "seg")
    assert not (tmp_path / "seg").exists()


def test_dataset_table_matches_the_installed_totalsegmentator() -> None:
    need_totalseg()
    script = (
        "import json\n"
        "from totalsegmentator.map_tasks_config import TASK_CONFIGS, TASK_ID_WEIGHTS_CONFIGS as W\n"
        "out = {}\n"
        f"for task in {list(TASKS)!r}:\n"
        "    for fast in (False, True):\n"
        "        c = TASK_CONFIGS[task]\n"
        "        c = c['sub_modes']['fast' if fast else 'default'] if 'sub_modes' in c else c\n"
        "        ids = c['task_id'] if isinstance(c['task_id'], list) else [c['task_id']]\n"
        "        out[f'{task} {fast}'] = [[i, W[i]['foldername'], c['trainer']] for i in ids]\n"
        "print(json.dumps(out))\n"
    )
    installed = json.loads(run_in_totalseg("-c", script).splitlines()[-1])
    for key, entries in installed.items():
        task, fast = key.split()
        assert [e[0] for e in entries] == list(TASKS[task][fast == "True"]), key
        for dataset_id, folder, trainer in entries:
            assert DATASETS[dataset_id] == (folder, trainer), key


def test_trainer_lookup_avoids_torchvision() -> None:
    """The `total` trainers resolve without nnU-Net's recursive import (which fails on torchvision with CPU torch)."""
    need_totalseg()
    script = (
        "import sys\n"
        "from wbrad.bodycomp.backends.totalseg_runner import patch_trainer_lookup\n"
        "import nnunetv2.inference.predict_from_raw_data as p\n"
        "patch_trainer_lookup()\n"
        "names = ['nnUNetTrainer_4000epochs_NoMirroring', 'nnUNetTrainerNoMirroring', 'nnUNetTrainer']\n"
        "print([p.recursive_find_trainer_class_by_name(n).__name__ for n in names], 'torchvision' in sys.modules)\n"
    )
    out = run_in_totalseg("-c", script).splitlines()[-1]
    assert out == "['nnUNetTrainer_4000epochs_NoMirroring', 'nnUNetTrainerNoMirroring', 'nnUNetTrainer'] False"


def _mask_arrays(folder: Path) -> dict[str, object]:
    import SimpleITK as sitk

    return {str(p.relative_to(folder)): sitk.GetArrayFromImage(sitk.ReadImage(str(p)))
            for p in sorted(folder.rglob("*.nii.gz"))}


@pytest.mark.slow
def test_a_batch_gives_the_masks_of_one_scan_runs(tmp_path: Path) -> None:
    """Two CTs in one process, each network loaded once, against one process per CT: the same files, voxel for
    voxel (stand-in weights, so the masks are arbitrary but not empty)."""
    import numpy as np
    import SimpleITK as sitk

    need_totalseg()
    run_in_totalseg("-m", "wbrad.testing.standin", "--weights", str(tmp_path / "w"), "--task", "total", "--fast")
    ct = sitk.ReadImage(str(EXAMPLE_CT))
    flipped = sitk.GetImageFromArray(np.ascontiguousarray(sitk.GetArrayFromImage(ct)[:, :, ::-1]))
    flipped.CopyInformation(ct)
    sitk.WriteImage(flipped, str(tmp_path / "ct2.nii.gz"))
    cts = [EXAMPLE_CT, tmp_path / "ct2.nii.gz"]
    backend = TotalSegmentatorBackend(python=str(TOTALSEG_PYTHON), weights=str(tmp_path / "w"), fast=True,
                                      device="cpu")
    for i, ct_path in enumerate(cts):
        backend.segment(ct_path, tmp_path / f"one{i}")
    backend.segment_batch(cts, [tmp_path / "batch0", tmp_path / "batch1"], timings=tmp_path / "timings.json")
    for i in range(2):
        one, batch = _mask_arrays(tmp_path / f"one{i}"), _mask_arrays(tmp_path / f"batch{i}")
        assert len(one) == 117 and list(one) == list(batch)
        assert sum(int(a.any()) for a in one.values()) > 5  # not all empty
        assert all(np.array_equal(one[name], batch[name]) for name in one)
    one0, one1 = _mask_arrays(tmp_path / "one0"), _mask_arrays(tmp_path / "one1")
    assert any(not np.array_equal(one0[n], one1[n]) for n in one0)  # the two CTs differ
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert [t["ct"] for t in timings] == [str(c.absolute()) for c in cts]
    assert all(0 < t["prediction_seconds"] < t["seconds"] for t in timings)


def test_segment_patient_leaves_failed_cts_out(tmp_path: Path) -> None:
    """CTs that are failed placeholders are not segmented (their own segment jobs record them); the batch folder
    is still written, so the patient's other jobs go on."""
    from wbrad.bodycomp.backends import segment_patient
    from wbrad.io import write_placeholder

    cts = [tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"]
    for ct in cts:
        write_placeholder(ct, {"rule": "convert_ct", "reason": "unreadable"})
    settings = {"backend": "totalsegmentator", "totalsegmentator": {"python": sys.executable,
                                                                     "weights": str(tmp_path / "none")}}
    done = segment_patient(settings, "tissue_types", cts, tmp_path / "batch", ["baseline", "fu1"])
    assert done == [] and (tmp_path / "batch").is_dir() and not any((tmp_path / "batch").iterdir())
    with pytest.raises(ValueError, match="2 CTs for 1 timepoints"):
        segment_patient(settings, "tissue_types", cts, tmp_path / "batch", ["baseline"])


def test_segment_scan_links_the_batch_masks(tmp_path: Path) -> None:
    """With ``batch``, the segment job hard-links that CT's masks from the patient's batch folder (no backend)."""
    import SimpleITK as sitk

    from wbrad.bodycomp.backends import segment_scan

    batch = tmp_path / "seg_batch" / "fu1"
    for name in ("total/liver.nii.gz", "total/spleen.nii.gz", "body/body.nii.gz"):
        (batch / name).parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(sitk.Image(4, 4, 2, sitk.sitkUInt8), str(batch / name))
    segment_scan({"backend": "totalsegmentator"}, "tissue_types", tmp_path / "ct.nii.gz", tmp_path / "seg",
                 batch=batch)
    linked = sorted(str(p.relative_to(tmp_path / "seg")) for p in (tmp_path / "seg").rglob("*.nii.gz"))
    assert linked == ["body/body.nii.gz", "total/liver.nii.gz", "total/spleen.nii.gz"]
    assert (tmp_path / "seg/total/liver.nii.gz").samefile(batch / "total/liver.nii.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no masks .* in the batch segmentation folder"):
        segment_scan({"backend": "totalsegmentator"}, "tissue_types", tmp_path / "ct.nii.gz", tmp_path / "seg2",
                     batch=tmp_path / "empty")
    assert not (tmp_path / "seg2").exists()
