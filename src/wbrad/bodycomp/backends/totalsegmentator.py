"""The ``totalsegmentator`` backend: TotalSegmentator 2.x run in its own environment, with offline weights.

The segment rule runs in wbrad's environment; TotalSegmentator (torch, nnU-Net) lives in another one: a Python
interpreter given in the config, by default the running one if it has TotalSegmentator (a conda run with
envs/segmentation.yaml), else the Makefile's ``.venv-totalseg``. Each job gets its own TotalSegmentator home (it
rewrites config.json there) with usage statistics off, and reads weights from one folder, checked by ``preflight``
before any job starts, since TotalSegmentator's own download has no timeout.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import wbrad
from wbrad.bodycomp.backends.precomputed import PrecomputedBackend
from wbrad.segmentation import BODY, LICENCE_FREE, LICENSED, TISSUE_4_TYPES, TISSUE_TYPES, TOTAL
from wbrad.study import repository

log = logging.getLogger(__name__)

SRC = Path(wbrad.__path__[0]).parent  # the folder that holds the wbrad package, for the runner's PYTHONPATH
DEFAULT_VENV_PYTHON = ".venv-totalseg/bin/python"
TRAINER_TOTAL = "nnUNetTrainerNoMirroring"
TRAINER_TOTAL_LOWRES = "nnUNetTrainer_4000epochs_NoMirroring"
# TotalSegmentator 2.18: dataset id -> (weights folder, trainer); nnU-Net plans nnUNetPlans, configuration 3d_fullres
DATASETS = {
    291: ("Dataset291_TotalSegmentator_part1_organs_1559subj", TRAINER_TOTAL),
    292: ("Dataset292_TotalSegmentator_part2_vertebrae_1532subj", TRAINER_TOTAL),
    293: ("Dataset293_TotalSegmentator_part3_cardiac_1559subj", TRAINER_TOTAL),
    294: ("Dataset294_TotalSegmentator_part4_muscles_1559subj", TRAINER_TOTAL),
    295: ("Dataset295_TotalSegmentator_part5_ribs_1559subj", TRAINER_TOTAL),
    297: ("Dataset297_TotalSegmentator_total_3mm_1559subj", TRAINER_TOTAL_LOWRES),
    298: ("Dataset298_TotalSegmentator_total_6mm_1559subj", TRAINER_TOTAL_LOWRES),
    299: ("Dataset299_body_1559subj", "nnUNetTrainer"),
    300: ("Dataset300_body_6mm_1559subj", "nnUNetTrainer"),
    481: ("Dataset481_tissue_1559subj", "nnUNetTrainer"),
    485: ("Dataset485_tissue_4types_1559subj", "nnUNetTrainer"),
}
TASKS = {  # task -> (dataset ids, dataset ids with fast)
    TOTAL: ((291, 292, 293, 294, 295), (297,)),
    BODY: ((299,), (300,)),
    TISSUE_TYPES: ((481,), (481,)),
    TISSUE_4_TYPES: ((485,), (485,)),
}
ROI_CROP_DATASET = 298  # TotalSegmentator first runs the 6 mm model to crop to a roi_subset
MODEL_SUBFOLDER = "{trainer}__nnUNetPlans__3d_fullres"
MODEL_FILES = ("dataset.json", "plans.json", "fold_0/checkpoint_final.pth")


def default_weights() -> Path:
    """TotalSegmentator's own rule: $TOTALSEG_WEIGHTS_PATH, else $TOTALSEG_HOME_DIR (or ~/.totalsegmentator)
    /nnunet/results."""
    if os.environ.get("TOTALSEG_WEIGHTS_PATH"):
        return Path(os.environ["TOTALSEG_WEIGHTS_PATH"])
    home = Path(os.environ.get("TOTALSEG_HOME_DIR") or Path.home() / ".totalsegmentator")
    return home / "nnunet" / "results"


def resolve_python(python: str | None) -> Path | None:
    """The interpreter that runs TotalSegmentator; a relative path is tried from here, then from the repository."""
    if python is None:
        if importlib.util.find_spec("totalsegmentator") is not None:
            return Path(sys.executable)
        python = DEFAULT_VENV_PYTHON
    if os.sep not in python:
        found = shutil.which(python)
        return Path(found) if found else None
    for candidate in (Path(python), repository() / python):
        if candidate.exists():
            return candidate.absolute()
    return None


@dataclass
class TotalSegmentatorBackend:
    """Writes ``out_dir/<task>/<class>.nii.gz`` for each configured TotalSegmentator task.

    ``python``: TotalSegmentator's interpreter (see ``resolve_python``); ``weights``: the folder of the
    ``DatasetNNN_*`` model folders (default ``default_weights()``); ``tasks``: ``total``, ``body``, and with a licence
    ``tissue_types`` or ``tissue_4_types``; ``fast``: the 3 mm ``total`` model; ``roi_subset``: classes of ``total``
    to predict (adds the 6 mm cropping model); ``device``: ``gpu`` or ``cpu``; ``licence_env``: the environment
    variable holding the TotalSegmentator licence key (never in the config or repository).
    """

    python: str | None = None
    weights: str | None = None
    tasks: tuple[str, ...] = (TOTAL,)
    fast: bool = False
    roi_subset: tuple[str, ...] | None = None
    device: str = "gpu"
    threads: int = 1
    licence_env: str = "TOTALSEG_LICENSE"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown:
            raise ValueError(f"unknown TotalSegmentator task(s) {unknown}; known: {', '.join(TASKS)}")

    @property
    def weights_dir(self) -> Path:
        return Path(self.weights).absolute() if self.weights else default_weights()

    def datasets(self) -> list[int]:
        """The dataset ids TotalSegmentator will load for the configured tasks."""
        ids = [i for task in self.tasks for i in TASKS[task][self.fast]]
        if self.roi_subset and TOTAL in self.tasks:
            ids.append(ROI_CROP_DATASET)
        return sorted(set(ids))

    def preflight(self) -> list[str]:
        """Problems that would make every job fail (interpreter, licence, each missing model folder); [] if none."""
        problems = []
        if resolve_python(self.python) is None:
            problems.append(
                f"TotalSegmentator's Python {self.python or DEFAULT_VENV_PYTHON} not found: run "
                "`make totalseg` (a separate virtual environment), or set segmentation: totalsegmentator: "
                "python: to an interpreter that has totalsegmentator installed"
            )
        for task in sorted(set(LICENSED) & set(self.tasks)):
            if not os.environ.get(self.licence_env):
                problems.append(
                    f"task {task} needs a TotalSegmentator licence key in the environment variable "
                    f"{self.licence_env} (never in the config), or use the licence-free route "
                    f"(bodycomp: tissue_source: {LICENCE_FREE})"
                )
        weights = self.weights_dir
        for dataset_id in self.datasets():
            folder, trainer = DATASETS[dataset_id]
            model = weights / folder / MODEL_SUBFOLDER.format(trainer=trainer)
            missing = [name for name in MODEL_FILES if not (model / name).is_file()]
            if missing:
                problems.append(
                    f"TotalSegmentator weights missing: {model} lacks {', '.join(missing)}. Install them offline: "
                    f"on a machine with network run `TOTALSEG_WEIGHTS_PATH=<dir> totalseg_download_weights -t "
                    f"{self.task_of(dataset_id)}{' --fast' if self.fast else ''}` (or download {folder}.zip from "
                    f"the TotalSegmentator releases and unzip it), then copy <dir>/{folder} into {weights}"
                )
        return problems

    def task_of(self, dataset_id: int) -> str:
        return next((t for t in self.tasks if dataset_id in TASKS[t][self.fast]), TOTAL)

    def command(self, ct: Path, out: Path) -> list[str]:
        return self.batch_command([ct], [out], reuse_models=False)

    def batch_command(self, cts: list[Path], outs: list[Path], reuse_models: bool = True,
                      timings: Path | None = None) -> list[str]:
        """The runner's command line for ``cts`` into ``outs``; ``reuse_models``: load each network once."""
        python = resolve_python(self.python)
        if python is None:
            raise FileNotFoundError(self.preflight()[0])
        args = [str(python), "-m", "wbrad.bodycomp.backends.totalseg_runner"]
        args += [a for ct, out in zip(cts, outs, strict=True) for a in ("--ct", str(ct), "--out", str(out))]
        args += ["--device", self.device, "--threads", str(self.threads), "--licence-env", self.licence_env]
        args += [a for task in self.tasks for a in ("--task", task)]
        args += ["--fast"] if self.fast else []
        args += ["--roi-subset", *self.roi_subset] if self.roi_subset else []
        args += ["--reuse-models"] if reuse_models else []
        args += ["--timings", str(timings)] if timings else []
        return args

    def environment(self, home: Path) -> dict[str, str]:
        """This job's TotalSegmentator home and the weights folder; src/ first on PYTHONPATH for the runner."""
        path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
        return {
            **os.environ,
            "PYTHONPATH": path,
            "TOTALSEG_HOME_DIR": str(home),
            "TOTALSEG_WEIGHTS_PATH": str(self.weights_dir),
        }

    def segment(self, ct: Path, out_dir: Path, source: Path | None = None, timings: Path | None = None) -> None:
        """Run TotalSegmentator on ``ct``; its masks are checked and canonicalised as precomputed ones are."""
        self._run([ct], [out_dir], reuse_models=False, timings=timings)

    def segment_batch(self, cts: list[Path], out_dirs: list[Path], sources: list[Path | None] | None = None,
                      timings: Path | None = None) -> None:
        """:meth:`segment` for several CTs in one TotalSegmentator process that loads each network once (and
        predicts in-process, without nnU-Net's per-image worker pools); the same masks as one ``segment`` per CT.
        ``timings``: where the runner writes per CT its wall and forward-pass seconds (JSON)."""
        if len(cts) != len(out_dirs) or (sources is not None and len(sources) != len(cts)):
            raise ValueError(f"{len(cts)} CTs, {len(out_dirs)} output folders, {len(sources or cts)} sources")
        self._run(cts, out_dirs, reuse_models=True, timings=timings)

    def _run(self, cts: list[Path], out_dirs: list[Path], reuse_models: bool, timings: Path | None = None) -> None:
        names = ", ".join(str(ct) for ct in cts)
        problems = self.preflight()
        if problems:
            raise FileNotFoundError(f"cannot segment {names}: " + "; ".join(problems))
        # named after the first output folder, so that a rerun after a kill removes it with that folder's leftovers
        first = Path(out_dirs[0])
        with tempfile.TemporaryDirectory(prefix=f".{first.name}.totalseg.", dir=first.parent) as tmp:
            raws, home = [Path(tmp) / f"raw{i}" for i in range(len(cts))], Path(tmp) / "home"
            home.mkdir()
            command = self.batch_command([Path(ct).absolute() for ct in cts], raws, reuse_models, timings)
            log.info("running %s", " ".join(command))
            result = subprocess.run(
                command, env=self.environment(home), capture_output=True, text=True, encoding="utf-8", errors="replace"
            )
            log.info("TotalSegmentator output:\n%s%s", result.stdout, result.stderr)
            if result.returncode != 0:
                raise RuntimeError(
                    f"TotalSegmentator failed on {names} (exit {result.returncode}):\n{result.stderr[-3000:]}"
                )
            for ct, out_dir, raw in zip(cts, out_dirs, raws, strict=True):
                PrecomputedBackend().segment(ct, out_dir, raw)
