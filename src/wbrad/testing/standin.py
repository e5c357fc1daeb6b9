"""Stand-in TotalSegmentator weights: tiny, randomly initialised nnU-Net v2 models in TotalSegmentator's folder layout.

TotalSegmentator only checks that each dataset folder exists, so a network of a few KiB with the right folder name,
plans and label map (taken from the installed TotalSegmentator) lets its real code run end to end on CPU in seconds.
For tests and CI only: the masks are meaningless. Runs with TotalSegmentator's Python (it needs torch and nnU-Net):

    .venv-totalseg/bin/python -m wbrad.testing.standin --weights build/standin-weights --task total --fast
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PLANS = "nnUNetPlans"
CONFIGURATION = "3d_fullres"
CROP_DATASET = 298  # the 6 mm model TotalSegmentator runs first to crop to a roi_subset
CROP_TRAINER = "nnUNetTrainer_4000epochs_NoMirroring"
PATCH = [64, 64, 64]
FEATURES = [2, 4, 8]


def datasets(task: str, fast: bool, roi_subset: bool) -> dict[int, str]:
    """Dataset id -> trainer that TotalSegmentator runs for ``task`` (its own task table decides)."""
    from totalsegmentator.python_api import get_task_config

    config = get_task_config(task, fast=fast, quiet=True)
    ids = config["task_id"] if isinstance(config["task_id"], list) else [config["task_id"]]
    needed = dict.fromkeys(ids, config["trainer"])
    if roi_subset:
        needed[CROP_DATASET] = CROP_TRAINER
    return needed


def labels(dataset_id: int, task: str) -> dict[str, int]:
    """nnU-Net's label map of one dataset, from TotalSegmentator's class maps."""
    from totalsegmentator.map_to_binary import class_map, class_map_5_parts, map_taskid_to_partname_ct

    if dataset_id in map_taskid_to_partname_ct:
        names = class_map_5_parts[map_taskid_to_partname_ct[dataset_id]]
    else:
        names = class_map["total" if dataset_id == CROP_DATASET else task]
    return {"background": 0, **{name: int(label) for label, name in sorted(names.items())}}


def plans(name: str, spacing_mm: float) -> dict:
    """Minimal nnU-Net v2 plans: one 3d_fullres configuration with a three-stage PlainConvUNet."""
    n = len(FEATURES)
    architecture = {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": n, "features_per_stage": FEATURES, "conv_op": "torch.nn.modules.conv.Conv3d",
            "kernel_sizes": [[3, 3, 3]] * n, "strides": [[1, 1, 1]] + [[2, 2, 2]] * (n - 1),
            "n_conv_per_stage": [1] * n, "n_conv_per_stage_decoder": [1] * (n - 1), "conv_bias": True,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d", "norm_op_kwargs": {"eps": 1e-5, "affine": True},
            "dropout_op": None, "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }
    resampling = {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None}
    configuration = {
        "data_identifier": f"{PLANS}_{CONFIGURATION}", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
        "patch_size": PATCH, "median_image_size_in_voxels": [128, 128, 128], "spacing": [spacing_mm] * 3,
        "normalization_schemes": ["CTNormalization"], "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_data_kwargs": resampling,
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_seg_kwargs": {**resampling, "is_seg": True},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": resampling, "architecture": architecture, "batch_dice": False,
    }
    intensities = {"max": 3000.0, "mean": 0.0, "median": 0.0, "min": -1024.0, "percentile_00_5": -1000.0,
                   "percentile_99_5": 1500.0, "std": 500.0}
    return {
        "dataset_name": name, "plans_name": PLANS, "original_median_spacing_after_transp": [spacing_mm] * 3,
        "original_median_shape_after_transp": [128, 128, 128], "image_reader_writer": "NibabelIOWithReorient",
        "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "configurations": {CONFIGURATION: configuration}, "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager", "foreground_intensity_properties_per_channel": {"0": intensities},
    }


def build_dataset(weights: Path, dataset_id: int, trainer: str, task: str, seed: int = 0) -> Path:
    """Write ``<weights>/<dataset folder>/<trainer>__nnUNetPlans__3d_fullres/`` with a randomly initialised network."""
    import torch
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from totalsegmentator.map_tasks_config import TASK_ID_WEIGHTS_CONFIGS

    name = TASK_ID_WEIGHTS_CONFIGS[dataset_id]["foldername"]
    dataset_json = {"channel_names": {"0": "CT"}, "labels": labels(dataset_id, task), "numTraining": 1,
                    "file_ending": ".nii.gz"}
    plan = plans(name, 6.0 if dataset_id == CROP_DATASET else 3.0)
    arch = plan["configurations"][CONFIGURATION]["architecture"]
    torch.manual_seed(seed)
    network = get_network_from_plans(arch["network_class_name"], arch["arch_kwargs"], arch["_kw_requires_import"],
                                     1, len(dataset_json["labels"]), allow_init=True, deep_supervision=False)
    folder = weights / name / f"{trainer}__{PLANS}__{CONFIGURATION}"
    (folder / "fold_0").mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(json.dumps(dataset_json, indent=1))
    (folder / "plans.json").write_text(json.dumps(plan, indent=1))
    checkpoint = {"network_weights": network.state_dict(), "trainer_name": trainer,
                  "init_args": {"plans": plan, "configuration": CONFIGURATION, "fold": 0, "dataset_json": dataset_json},
                  "inference_allowed_mirroring_axes": None}
    torch.save(checkpoint, folder / "fold_0" / "checkpoint_final.pth")
    return weights / name


def build(weights: Path, task: str, fast: bool = False, roi_subset: bool = False) -> list[Path]:
    """Stand-in dataset folders for everything TotalSegmentator runs for ``task``; returns the folders written."""
    return [build_dataset(weights, dataset_id, trainer, task)
            for dataset_id, trainer in datasets(task, fast, roi_subset).items()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="folder that TOTALSEG_WEIGHTS_PATH will name")
    parser.add_argument("--task", action="append", required=True, help="TotalSegmentator task (repeatable)")
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--roi-subset", action="store_true", help="also build the 6 mm cropping model")
    args = parser.parse_args(argv)
    for task in args.task:
        for folder in build(args.weights, task, args.fast, args.roi_subset):
            print(folder)


if __name__ == "__main__":
    main()
