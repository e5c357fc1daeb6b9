"""Run TotalSegmentator on CTs, in TotalSegmentator's own environment (the totalsegmentator backend calls it).

Standard library and TotalSegmentator only: this module runs with TotalSegmentator's Python, where wbrad's own
dependencies may be absent. The caller sets TOTALSEG_HOME_DIR (one per job) and TOTALSEG_WEIGHTS_PATH.

    python -m wbrad.bodycomp.backends.totalseg_runner --ct ct.nii.gz --out seg_raw --task total --fast --device cpu

writes ``seg_raw/<task>/<class>.nii.gz`` for each task. ``--ct``/``--out`` repeated segment several CTs in one
process; with ``--reuse-models`` each nnU-Net network is loaded once for all of them (:func:`reuse_models`).
``--timings t.json`` writes, per CT, the wall seconds and the seconds spent in the networks' forward passes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import time
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


LOADED = ("plans_manager", "configuration_manager", "list_of_parameters", "network", "dataset_json", "trainer_name",
          "allowed_mirroring_axes", "label_manager")  # what nnUNetPredictor.initialize_from_trained_model_folder sets
PREDICTION_SECONDS = [0.0]  # time in nnU-Net's forward passes (sliding window), summed, when timed


def time_prediction() -> None:
    """Add the seconds of every ``predict_logits_from_preprocessed_data`` call to :data:`PREDICTION_SECONDS`."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    predict = nnUNetPredictor.predict_logits_from_preprocessed_data

    def timed(self, data):
        start = time.perf_counter()
        try:
            return predict(self, data)
        finally:
            PREDICTION_SECONDS[0] += time.perf_counter() - start

    nnUNetPredictor.predict_logits_from_preprocessed_data = timed


def reuse_models() -> None:
    """Make TotalSegmentator load each nnU-Net model once per process instead of once per CT and task.

    TotalSegmentator (``totalsegmentator.nnunet.nnUNetv2_predict``) builds an ``nnUNetPredictor`` and calls
    ``initialize_from_trained_model_folder`` (reads the checkpoint, builds the network) for every image; it has no
    cache (its issues 523 and 581). This swaps in a subclass that keeps the first initialised predictor of each
    (model folder, folds, checkpoint, predictor settings) and hands its loaded state to later ones, and predicts in
    this process (nnU-Net's own ``predict_from_files_sequential``: the same preprocessing, network pass and export
    as ``predict_from_files``, without starting two spawned worker pools per image). TotalSegmentator's own steps
    around it (cropping, resampling, class splitting, saving) are untouched.
    """
    import totalsegmentator.nnunet as ts_nnunet
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    loaded: dict[tuple, dict] = {}

    class ReusedPredictor(nnUNetPredictor):
        def initialize_from_trained_model_folder(self, model_training_output_dir, use_folds,
                                                 checkpoint_name="checkpoint_final.pth"):
            settings = (self.tile_step_size, self.use_gaussian, self.use_mirroring, str(self.device),
                        self.perform_everything_on_device)
            key = (str(model_training_output_dir), str(use_folds), checkpoint_name, settings)
            if key not in loaded:
                super().initialize_from_trained_model_folder(model_training_output_dir, use_folds, checkpoint_name)
                loaded[key] = {name: getattr(self, name) for name in LOADED}
            vars(self).update(loaded[key])

        def predict_from_files(self, list_of_lists_or_source_folder, output_folder_or_list_of_truncated_output_files,
                               save_probabilities=False, overwrite=True, num_processes_preprocessing=1,
                               num_processes_segmentation_export=1, folder_with_segs_from_prev_stage=None,
                               num_parts=1, part_id=0, use_cropped_logits_resampling=False):
            assert (num_parts, part_id) == (1, 0), "one part only"
            # TotalSegmentator's runtime patch adds use_cropped_logits_resampling to both methods; pass it on
            extra = ({"use_cropped_logits_resampling": use_cropped_logits_resampling}
                     if ts_nnunet.supports_keyword_argument(self.predict_from_files_sequential,
                                                            "use_cropped_logits_resampling") else {})
            return self.predict_from_files_sequential(
                list_of_lists_or_source_folder, output_folder_or_list_of_truncated_output_files,
                save_probabilities, overwrite, folder_with_segs_from_prev_stage, **extra)

    ts_nnunet.nnUNetPredictor = ReusedPredictor


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
    parser.add_argument("--ct", type=Path, action="append", required=True, help="repeatable, one per --out")
    parser.add_argument("--out", type=Path, action="append", required=True)
    parser.add_argument("--task", action="append", required=True)
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--roi-subset", nargs="+")
    parser.add_argument("--device", default="gpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--licence-env", default=LICENCE_ENV)
    parser.add_argument("--reuse-models", action="store_true", help="load each network once for all CTs")
    parser.add_argument("--timings", type=Path, help="JSON file: per CT, wall and forward-pass seconds")
    args = parser.parse_args(argv)
    if len(args.ct) != len(args.out):
        parser.error(f"{len(args.ct)} --ct but {len(args.out)} --out")
    configure_home(args.licence_env)
    patch_trainer_lookup()
    if args.reuse_models:
        reuse_models()
    if args.timings:
        time_prediction()
    timings = []
    for ct, out in zip(args.ct, args.out, strict=True):
        start, predicted = time.perf_counter(), PREDICTION_SECONDS[0]
        run(ct, out, args.task, args.fast, args.roi_subset, args.device, args.threads)
        timings.append({"ct": str(ct), "seconds": time.perf_counter() - start,
                        "prediction_seconds": PREDICTION_SECONDS[0] - predicted})
    if args.timings:
        args.timings.write_text(json.dumps(timings, indent=1))


if __name__ == "__main__":
    main()
