"""The `wbrad` command: study helpers around the Snakemake workflow."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _synth(args: argparse.Namespace) -> int:
    from wbrad.synth import write_cohort

    start = time.perf_counter()
    manifest = write_cohort(
        Path(args.out), n_patients=args.patients, seed=args.seed, size=args.size, pet_share=args.pet_share
    )
    print(f"wrote a synthetic cohort of {args.patients} patients ({args.size}, seed {args.seed}) "
          f"in {time.perf_counter() - start:.1f} s: manifest {manifest}")
    return 0


def _check_truth(args: argparse.Namespace) -> int:
    from wbrad.truthcheck import check_truth

    checks = check_truth(Path(args.cohort), Path(args.results))
    for check in checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    return 0 if all(check.passed for check in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wbrad", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    synth = commands.add_parser("synth", help="write a synthetic registry cohort (registry, manifest, images, truth)")
    synth.add_argument("--out", default="demo/cohort", help="output folder (default: demo/cohort)")
    synth.add_argument("--patients", type=int, default=40, help="number of patients (default: 40)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    synth.add_argument("--size", default="demo", choices=["demo", "tiny"], help="image size (default: demo)")
    synth.add_argument("--pet-share", type=float, default=1 / 3, help="share of patients with PET (default: 1/3)")
    synth.set_defaults(func=_synth)
    check = commands.add_parser("check-truth", help="compare a finished run on a synthetic cohort with its truth.json")
    check.add_argument("--cohort", default="demo/cohort", help="the synthetic cohort folder (default: demo/cohort)")
    check.add_argument("--results", default="results", help="the results folder (default: results)")
    check.set_defaults(func=_check_truth)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
