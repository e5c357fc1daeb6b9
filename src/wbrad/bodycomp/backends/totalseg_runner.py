"""Run TotalSegmentator on one CT, in TotalSegmentator's own environment (the totalsegmentator backend calls it).

Standard library and TotalSegmentator only: this module runs with TotalSegmentator's Python, where wbrad's own
dependencies may be absent. The caller sets TOTALSEG_HOME_DIR (one per job) and TOTALSEG_WEIGHTS_PATH.

    python -m wbrad.bodycomp.backends.totalseg_runner --ct ct.nii.gz --out seg_raw --task total --fast --device cpu

writes ``seg_raw/<task>/<class>.nii.gz`` for each task.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
from pathlib import Path

LICENCE_ENV = "TOTALSEG_LICENSE"


def find_trainer_module(name: str, root: Path) -> str | None:
    """The module under ``root`` (nnU-Net's trainer folder) whose source defines ``class <name>(``, found without
    importing."""
    pattern = re.compile(rf"^class {re.escape(name)}\(", re.MULTILINE)
    for path in sorted(root.rglob("*.py")):
        if pattern.search(path.read_text(errors="ignore")):
            relative = path.relative_to(root.parents[2]).with_suffix("")
            return ".".join(relative.parts)
    return None


def patch_trainer_lookup() -> None:
    """Resolve a trainer class by importing only the module that defines it, before nnU-Net's recursive search.

    nnU-Net imports every trainer module to find one class; one of them imports torchvision, which fails with the
    CPU torch wheel ("operator torchvision::nms does not exist"), so the ``total`` tasks' trainers are not found.
    """
    import nnunetv2
    import nnunetv2.inference.predict_from_raw_data as predict
    import totalsegmentator.nnunet  # noqa: F401  (installs TotalSegmentator's own trainer patch first)

    root = Path(nnunetv2.__path__[0]) / "training" / "nnUNetTrainer"
    fallback = predict.recursive_find_trainer_class_by_name

    def find(trainer_name: str):
        module = find_trainer_module(trainer_name, root)
        if module is not None:
            return getattr(importlib.import_module(module), trainer_name)
        return fallback(trainer_name)

    predict.recursive_find_trainer_class_by_name = find


def configure_home(licence_env: str) -> None:
    """Usage statistics off in this job's TotalSegmentator home; the licence from the environment, if set."""
    from totalsegmentator.config import set_config_key, set_license_number, setup_totalseg

    setup_totalseg()
    set_config_key("send_usage_stats", False)
    set_config_key("statistics_disclaimer_shown", True)
    licence = os.environ.get(licence_env)
    if licence:
        set_license_number(licence, skip_validation=True)  # offline clusters cannot reach the licence server


def run(
    ct: Path, out: Path, tasks: list[str], fast: bool, roi_subset: list[str] | None, device: str, threads: int
) -> None:
    """Segment ``ct`` with each task into ``out/<task>/`` (one mask per class)."""
    import torch
    from totalsegmentator.python_api import totalsegmentator

    torch.set_num_threads(threads)
    for task in tasks:
        totalsegmentator(
            ct,
            out / task,
            task=task,
            fast=fast and task in ("total", "body"),
            roi_subset=roi_subset if task == "total" else None,
            ml=False,
            device=device,
            nr_thr_resamp=threads,
            nr_thr_saving=threads,
            quiet=False,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--task", action="append", required=True)
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--roi-subset", nargs="+")
    parser.add_argument("--device", default="gpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--licence-env", default=LICENCE_ENV)
    args = parser.parse_args(argv)
    configure_home(args.licence_env)
    patch_trainer_lookup()
    run(args.ct, args.out, args.task, args.fast, args.roi_subset, args.device, args.threads)


if __name__ == "__main__":
    main()
