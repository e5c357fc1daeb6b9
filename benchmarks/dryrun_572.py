"""Dry-run and audit at registry scale: 572 patients, 4 timepoints each, PET for 191 (empty placeholder files).

Both are timed against the dry-run of a minimal Snakefile with the same number of jobs, in the same run, so that the
machine's speed cancels out. The minimal rule is given the directives every wbrad rule must have (log, benchmark,
threads, resources, conda, script): what Snakemake itself spends per job on them, apart from anything our Snakefile
computes. Targets (issue 16): our dry-run at most 1.5 times that one, and the audit at most 1.2 times our dry-run.
Judged on CPU seconds (user + system of the child processes), which a busy shared machine inflates less than wall
seconds, each the median of three rounds that run every command in turn (single runs gave ratios 1.43-1.62 on one
machine in one hour); wall seconds and the plain minimal Snakefile shown for reference.

Then the registry's everyday case: the study complete (every output a placeholder, newer than its inputs) and one new
patient added; the dry-run must list only that patient's jobs and the cohort, model and report ones.

Run: `python benchmarks/dryrun_572.py [folder]` (make bench; default folder build/bench572). Exit status 1 when a target
is missed.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from wbrad.audit.dryrun import PlannedJob, parse_dry_run
from wbrad.synth.cohort import MANIFEST_COLUMNS
from wbrad.synth.registry import draw_patients, registry_table

REPO = Path(__file__).resolve().parents[1]
PATIENTS, PET_PATIENTS, TIMEPOINTS = 572, 191, ("baseline", "fu1", "fu2", "fu3")
LIMIT_DIRECTIVES, LIMIT_AUDIT = 1.5, 1.2  # our dry-run / the minimal one with directives; the audit / our dry-run
ROUNDS = 3  # each command timed this often, interleaved; the median counts
STAGES = ("convert_ct", "convert_pet", "segment_batch", "segment", "bodycomp", "register", "lesions", "robustness",
          "burden", "track", "delta", "robustness_icc", "robustness_retest", "cohort",
          "model", "model_binary")  # every rule with outputs, each after the rules it reads from
MINIMAL_STEP = """N = int(config["jobs"])

rule all:
    input: expand("out/{i}.txt", i=range(N - 1))

rule step:
    output: "out/{i}.txt"
"""
MINIMAL = MINIMAL_STEP + '    shell: "touch {output}"\n'
WITH_DIRECTIVES = MINIMAL_STEP + """    log: "logs/{i}.log"
    benchmark: "logs/benchmark/{i}.tsv"
    threads: 1
    resources: mem_mb=1000, runtime=5
    conda: "env.yaml"
    script: "step.py"
"""


def write_study(folder: Path) -> Path:
    """Registry, manifest and empty image placeholders; returns the config file that points at them. Scans are a week
    apart around therapy start, and every patient lives past the last one (no impossible record: issue 15's checks)."""
    patients = draw_patients(PATIENTS, seed=0, pet_share=PET_PATIENTS / PATIENTS)
    registry = registry_table(patients)
    registry[["os_days", "pfs_days"]] = registry[["os_days", "pfs_days"]].clip(lower=7 * len(TIMEPOINTS))
    starts = dict(zip(registry.patient_id, pd.to_datetime(registry.therapy_start), strict=True))
    rows = []
    for patient in patients:
        for week, tp in enumerate(TIMEPOINTS):
            scan = folder / "images" / patient.pid / tp
            (scan / "seg").mkdir(parents=True, exist_ok=True)
            date = (starts[patient.pid] + pd.Timedelta(days=7 * week - 1)).strftime("%Y-%m-%d")
            rows.append({"patient_id": patient.pid, "timepoint": tp, "scan_date": date, "modality": "CT",
                         "image": f"images/{patient.pid}/{tp}/ct.nii.gz",
                         "lesions": f"images/{patient.pid}/{tp}/lesions.nii.gz",
                         "segmentation": f"images/{patient.pid}/{tp}/seg"})
            names = ["ct.nii.gz", "lesions.nii.gz"]
            if patient.pet:
                rows.append({"patient_id": patient.pid, "timepoint": tp, "scan_date": date, "modality": "PT",
                             "image": f"images/{patient.pid}/{tp}/pet.nii.gz"})
                names.append("pet.nii.gz")
            for name in names:
                (scan / name).touch()
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS, dtype=object).fillna("")
    manifest.to_csv(folder / "manifest.tsv", sep="\t", index=False)
    registry.to_csv(folder / "registry.csv", index=False)
    (folder / "study.yaml").write_text("manifest: manifest.tsv\nregistry: registry.csv\n", encoding="utf-8")
    return folder / "study.yaml"


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str]) -> tuple[float, float, str]:
    """CPU seconds and wall seconds of a command, and its output."""
    cpu, start = _children_cpu_s(), time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    wall, cpu = time.perf_counter() - start, _children_cpu_s() - cpu
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    return cpu, wall, result.stdout + result.stderr


def median_run(results: list[tuple[float, float, str]]) -> tuple[float, float, str]:
    """The run with the median CPU seconds."""
    return sorted(results, key=lambda result: result[0])[len(results) // 2]


def snakemake_n(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-n", "--cores", "2", *args]


def main(parent: Path) -> int:
    folder = parent / "study"  # rewritten on every run: the incremental case below completes the study
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    study = write_study(folder)
    configs = [str(REPO / "config.yaml"), str(study)]
    ours_command = snakemake_n("--snakefile", str(REPO / "Snakefile"), "--directory", str(folder), "--configfile",
                               *configs)
    runs: dict[str, list[tuple[float, float, str]]] = {}
    for _ in range(ROUNDS):  # interleaved, so that a slower minute of a shared machine falls on every command
        runs.setdefault("ours", []).append(timed(ours_command))
        jobs = len(parse_dry_run(runs["ours"][-1][2]))
        for name, text in [("minimal", MINIMAL), ("minimal_directives", WITH_DIRECTIVES)]:
            runs.setdefault(name, []).append(minimal_dry_run(parent / name, text, jobs))
        runs.setdefault("audit", []).append(timed([sys.executable, "-m", "wbrad.cli", "audit", "--configfile", *configs,
                                                   "--directory", str(folder), "--out", str(folder / "audit")]))
    for name, results in runs.items():
        print(f"{name + ' CPU s, each round:':40}" + "".join(f"{cpu:8.1f}" for cpu, _, _ in results))
    ours, minimal_run, directives_run, audit = (median_run(runs[name]) for name in
                                                ("ours", "minimal", "minimal_directives", "audit"))
    print(f"{PATIENTS} patients x {len(TIMEPOINTS)} timepoints, PET for {PET_PATIENTS}: {jobs} jobs; "
          f"the median of {ROUNDS} rounds")
    print(f"{'':30}{'CPU s':>8}{'wall s':>8}{'x minimal':>11}{'x directives':>14}{'x our dry-run':>15}")
    limits = {"wbrad dry-run": (directives_run[0], LIMIT_DIRECTIVES), "wbrad audit": (ours[0], LIMIT_AUDIT)}
    failed = False
    for name, (cpu, wall, _) in [("minimal dry-run", minimal_run), ("minimal + directives dry-run", directives_run),
                                 ("wbrad dry-run", ours), ("wbrad audit", audit)]:
        base, limit = limits.get(name, (None, None))
        ok = base is None or cpu / base <= limit
        failed |= not ok
        verdict = "" if base is None else "PASS" if ok else "FAIL"
        print(f"{name:30}{cpu:8.1f}{wall:8.1f}{cpu / minimal_run[0]:11.2f}{cpu / directives_run[0]:14.2f}"
              f"{cpu / ours[0]:15.2f}  {verdict}")
    print(f"targets: dry-run <= {LIMIT_DIRECTIVES}x the minimal one with directives, audit <= {LIMIT_AUDIT}x ours")
    incremental_ok = new_patient_only(folder, configs, parse_dry_run(ours[2]))
    return int(failed or not incremental_ok)


def complete_study(jobs: list[PlannedJob]) -> None:
    """Every planned output as an empty placeholder, each stage newer than the one before (a finished run)."""
    unknown = sorted({job.rule for job in jobs if job.outputs} - set(STAGES))
    if unknown:
        raise SystemExit(f"benchmarks/dryrun_572.py: add the rules {unknown} to STAGES, after the rules they read from")
    stamp = time.time()  # the inputs were written before now
    for rule in STAGES:
        stamp += 1
        for path in (Path(out) for job in jobs if job.rule == rule for out in job.outputs):
            if path.suffix:  # files; a path without a suffix is a directory output (seg/)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            else:
                path.mkdir(parents=True, exist_ok=True)
            os.utime(path, (stamp, stamp))


def add_patient(folder: Path, template: str, new: str) -> None:
    """A copy of ``template``'s registry and manifest rows (and image placeholders) as a new patient ``new``."""
    manifest = pd.read_csv(folder / "manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    rows = manifest[manifest.patient_id == template].replace(template, new, regex=True)
    pd.concat([manifest, rows]).to_csv(folder / "manifest.tsv", sep="\t", index=False)
    registry = pd.read_csv(folder / "registry.csv", dtype={"patient_id": str})
    registry = pd.concat([registry, registry[registry.patient_id == template].assign(patient_id=new)])
    registry.to_csv(folder / "registry.csv", index=False)
    for column in ("image", "lesions"):
        for path in filter(None, rows[column]):
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).touch()
    for path in filter(None, rows.segmentation):
        (folder / path).mkdir(parents=True, exist_ok=True)


def new_patient_only(folder: Path, configs: list[str], planned: list[PlannedJob]) -> bool:
    """Complete the study, add a patient, and time the dry-run that must plan only that patient and the cohort."""
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        complete_study(planned)
    finally:
        os.chdir(cwd)
    dry_run = snakemake_n("--snakefile", str(REPO / "Snakefile"), "--directory", str(folder), "--configfile", *configs)
    complete = timed(dry_run)
    add_patient(folder, template=planned[0].wildcards.get("patient", "P001"), new="NEW001")
    incremental = timed(dry_run)
    jobs = parse_dry_run(incremental[2])
    others = sorted({job.key for job in jobs if job.wildcards.get("patient", "NEW001") != "NEW001"})
    study = sorted({job.rule for job in jobs if "patient" not in job.wildcards})
    print(f"complete study, nothing to do:  {complete[0]:5.1f} CPU s, {len(parse_dry_run(complete[2]))} jobs planned")
    print(f"one new patient:                {incremental[0]:5.1f} CPU s, {len(jobs)} jobs planned "
          f"({len(jobs) - len(study)} of the new patient; study-level: {', '.join(study)}; "
          f"others: {others[:10] or 'none'}{f' and {len(others) - 10} more' if len(others) > 10 else ''})")
    return not others and not parse_dry_run(complete[2])


def minimal_dry_run(folder: Path, snakefile: str, jobs: int) -> tuple[float, float, str]:
    """The dry-run of a minimal Snakefile with ``jobs`` jobs (and the env and script files its rule may name)."""
    folder.mkdir(exist_ok=True)
    (folder / "Snakefile").write_text(snakefile, encoding="utf-8")
    (folder / "env.yaml").write_text("channels: [conda-forge]\ndependencies: [python=3.11]\n", encoding="utf-8")
    (folder / "step.py").touch()
    return timed(snakemake_n("--snakefile", str(folder / "Snakefile"), "--directory", str(folder),
                             "--config", f"jobs={jobs}"))


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/bench572")))
