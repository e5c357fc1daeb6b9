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
        Path(args.out), n_patients=args.patients, seed=args.seed, size=args.size, pet_share=args.pet_share,
        dicom=args.dicom, aligned=args.aligned, scanners=args.scanners, retest=args.retest,
    )
    print(f"wrote a synthetic cohort of {args.patients} patients ({args.size}, seed {args.seed}) "
          f"in {time.perf_counter() - start:.1f} s: manifest {manifest}")
    return 0


def _read_config(config: Path) -> dict:
    """The config file's settings ({} when there is none)."""
    import yaml

    return (yaml.safe_load(config.read_text(encoding="utf-8")) if config.is_file() else None) or {}


def _config_link_table(settings: dict, config: Path) -> str:
    """The config's convert.link_table; an error when neither it nor --link-table names one."""
    path = (settings.get("convert") or {}).get("link_table")
    if not path:
        raise SystemExit(f"wbrad discover: give --link-table, or convert.link_table in {config}")
    return path


def _discover(args: argparse.Namespace) -> int:
    from wbrad.discover.run import discover
    from wbrad.discover.select import Rules
    from wbrad.study import Timepoints

    settings = _read_config(Path(args.config))
    given = {"max_slice_mm": args.max_slice_mm, "baseline_window_days": args.baseline_window_days,
             "kernel_pattern": args.kernel_pattern, "baseline": Timepoints.from_config(settings).baseline}
    if args.followup:
        given["followups"] = {name: (int(lo), int(hi)) for name, lo, hi in (w.split(":") for w in args.followup)}
    rules = Rules(**{key: value for key, value in given.items() if value is not None})
    link_table = args.link_table or _config_link_table(settings, Path(args.config))
    selection = discover(args.root, args.registry, args.manifest, link_table, rules, settings.get("registry_format"))
    print(f"{len(selection.rows)} scans selected, {len(selection.ambiguous)} cases for a human "
          f"({Path(args.manifest).with_suffix('.ambiguous.tsv')}); manifest {args.manifest}")
    return 0


def _check_truth(args: argparse.Namespace) -> int:
    from wbrad.truthcheck import check_truth

    checks = check_truth(Path(args.cohort), Path(args.results))
    for check in checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    return 0 if all(check.passed for check in checks) else 1


def _audit(args: argparse.Namespace) -> int:
    from wbrad.audit import render, run_audit, write_audit

    audit = run_audit([Path(f) for f in args.configfile], Path(args.directory), Path(args.snakefile),
                      verify=args.verify)
    tsv, page = write_audit(audit, Path(args.out))
    print(render(audit))
    print(f"written: {tsv}, {page}")
    return 1 if args.strict and audit.blocking else 0


def build_parser() -> argparse.ArgumentParser:
    from wbrad.discover.select import Rules
    from wbrad.study import RESULTS, repository

    parser = argparse.ArgumentParser(prog="wbrad", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    synth = commands.add_parser("synth", help="write a synthetic registry cohort (registry, manifest, images, truth)")
    synth.add_argument("--out", default="demo/cohort", help="output folder (default: demo/cohort)")
    synth.add_argument("--patients", type=int, default=40, help="number of patients (default: 40)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    synth.add_argument("--size", default="demo", choices=["demo", "tiny"], help="image size (default: demo)")
    synth.add_argument("--pet-share", type=float, default=1 / 3, help="share of patients with PET (default: 1/3)")
    synth.add_argument("--dicom", action="store_true",
                       help="also write every scan as a DICOM export (CT, PET in Bq/mL, RTSTRUCT; invented names) "
                            "listed in manifest_dicom.tsv")
    synth.add_argument("--aligned", action="store_true",
                       help="follow-ups unmoved with the baseline's lesion labels (default: repositioned patient, "
                            "labels renumbered per scan, a few lesions merged or split)")
    synth.add_argument("--scanners", type=int, default=3, choices=[1, 2, 3],
                       help="CT scanner profiles, one per patient (1: the reference only; default: 3)")
    synth.add_argument("--retest", type=int, default=0, metavar="N",
                       help="N patients also get a CT 'retest' timepoint on the baseline's day (repositioned "
                            "slightly, new noise, the baseline's lesion labels; default: 0)")
    synth.set_defaults(func=_synth)
    disc = commands.add_parser("discover", help="index a DICOM export (headers only) and add its scans to a manifest")
    disc.add_argument("root", help="folder of the DICOM export")
    disc.add_argument("--registry", required=True, help="registry CSV (patient_id = pseudonym, therapy_start)")
    disc.add_argument("--manifest", required=True, help="manifest TSV to write or extend (rows are only added)")
    disc.add_argument("--link-table", help="CSV linking hospital patient IDs to pseudonyms; read, and extended with "
                                           "new patients (default: convert.link_table of --config)")
    disc.add_argument("--config", default="config.yaml",
                      help="config file for the default link table and the baseline timepoint's name")
    defaults = Rules()
    disc.add_argument(
        "--max-slice-mm", type=float, help=f"thickest CT slices accepted (default: {defaults.max_slice_mm:g})"
    )
    disc.add_argument(
        "--kernel-pattern",
        help="regular expression of preferred soft-tissue CT kernels (default: Siemens B3x/Br3x/I3x, "
        "GE STANDARD/SOFT, Canon FC0x/FC1x)",
    )
    disc.add_argument(
        "--baseline-window-days",
        type=int,
        help="baseline: the last study this many days before therapy start, or on its day "
        f"(default: {defaults.baseline_window_days})",
    )
    followups = " ".join(f"{name}:{lo}:{hi}" for name, (lo, hi) in defaults.followups.items())
    disc.add_argument(
        "--followup",
        action="append",
        default=None,
        metavar="NAME:FROM:TO",
        help=f"follow-up window in days after therapy start, repeatable (default: {followups})",
    )
    disc.set_defaults(func=_discover)
    check = commands.add_parser("check-truth", help="compare a finished run on a synthetic cohort with its truth.json")
    check.add_argument("--cohort", default="demo/cohort", help="the synthetic cohort folder (default: demo/cohort)")
    check.add_argument("--results", default=RESULTS, help=f"the results folder (default: {RESULTS})")
    check.set_defaults(func=_check_truth)
    audit = commands.add_parser(
        "audit", help="check a study's inputs and show what Snakemake would run, without running"
    )
    audit.add_argument("--configfile", nargs="+", default=["config.yaml"], help="config files (default: config.yaml)")
    audit.add_argument("--directory", default=".", help="Snakemake's working directory (default: .)")
    audit.add_argument(
        "--snakefile",
        default=str(repository() / "Snakefile"),
        help="the workflow (default: this repository's Snakefile)",
    )
    audit.add_argument("--out", default="audit", help="folder for audit.tsv, problems.tsv, audit.html (default: audit)")
    audit.add_argument("--strict", action="store_true", help="exit 1 when a blocking problem is found")
    audit.add_argument("--verify", action="store_true",
                       help="also check every file under results/ against its integrity record (<file>.sha256): "
                            "damaged or unrecorded files are blocking problems")
    audit.set_defaults(func=_audit)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; a problem of the user's study files is one clear message on stderr (exit 2), no traceback."""
    from wbrad.study import StudyError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (StudyError, FileNotFoundError) as err:
        print(f"wbrad {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
