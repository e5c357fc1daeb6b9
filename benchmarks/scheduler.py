"""CPU seconds Snakemake's own process spends scheduling a local run: the ILP scheduler against the greedy one, and
Snakemake's default job rate limit against the one our profiles set.

A local run is one Snakemake process that selects, starts and checks every job; on 2 cores that process competes
with the jobs. Two of its defaults cost CPU there:

- With PuLP installed (it comes with Snakemake), ``--scheduler ilp`` is the default: at every selection round it
  builds and solves an integer programme over the ready jobs, which only pays where ``temp()`` files must be deleted
  early (wbrad has none).
- ``--max-jobs-per-timespan`` defaults to 100/1s, and after every selection round that leaves jobs waiting,
  Snakemake 9 re-runs the selection one timespan later (``JobScheduler._schedule_reevalutation``). Every finished job
  starts such a round, so while jobs wait for cores the re-runs pile up: with hundreds of jobs done, hundreds of rounds
  a second, each checking the input files of every waiting job. ``60000/10m`` (the same rate, counted over 10
  minutes) makes them rare; the Snakefile's ``onsuccess`` cancels the last timers
  (:func:`wbrad.workflow.cancel_rescheduling_timers`), else the process would wait for them (no daemon threads).

The same DAG of jobs that take a moment (per patient a chain of 4 rules, then one cohort job, as wbrad's per-scan
stages) runs in each setting, one after the other, and the CPU seconds of the Snakemake process and its children (the
jobs' own cost is a ``sleep``) are printed side by side.

Run: `python benchmarks/scheduler.py [patients] [job seconds]` (default 100 patients: 402 jobs, 0.3 s each).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEFILE = """
from wbrad.workflow import cancel_rescheduling_timers

P = [f"P{i:03d}" for i in range(int(config["patients"]))]
SLEEP = config["sleep"]

onsuccess:
    cancel_rescheduling_timers()

rule all:
    input: "cohort.txt"

rule cohort:
    input: expand("{p}/d.txt", p=P)
    output: "cohort.txt"
    threads: 1
    shell: "touch {output}"

rule a:
    output: "{p}/a.txt"
    threads: 1
    shell: "sleep {SLEEP} && touch {output}"

rule b:
    input: "{p}/a.txt"
    output: "{p}/b.txt"
    threads: 1
    shell: "sleep {SLEEP} && touch {output}"

rule c:
    input: "{p}/b.txt"
    output: "{p}/c.txt"
    threads: 1
    shell: "sleep {SLEEP} && touch {output}"

rule d:
    input: "{p}/c.txt"
    output: "{p}/d.txt"
    threads: 1
    shell: "sleep {SLEEP} && touch {output}"
"""
SETTINGS = {  # name: Snakemake options; the last is what profiles/local and profiles/slurm set
    "ilp, 100/1s (defaults)": ["--scheduler", "ilp"],
    "greedy, 100/1s": ["--scheduler", "greedy"],
    "greedy, 60000/10m": ["--scheduler", "greedy", "--max-jobs-per-timespan", "60000/10m"],
}


def run(folder: Path, options: list[str], patients: int, sleep: float) -> tuple[float, float]:
    """(CPU seconds of snakemake and its children, wall seconds) of one complete run."""
    folder.mkdir()
    (folder / "Snakefile").write_text(SNAKEFILE)
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *options, "--config", f"patients={patients}",
               f"sleep={sleep}", "--quiet", "all"]
    before, start = os.times(), time.perf_counter()
    subprocess.run(command, cwd=folder, check=True, capture_output=True)
    after = os.times()
    cpu = after.children_user - before.children_user + after.children_system - before.children_system
    return cpu, time.perf_counter() - start


def main(patients: int = 100, sleep: float = 0.3) -> None:
    jobs = patients * 4 + 2
    with tempfile.TemporaryDirectory() as tmp:
        rows = {name: run(Path(tmp) / str(i), options, patients, sleep)
                for i, (name, options) in enumerate(SETTINGS.items())}
    print(f"{jobs} jobs of {sleep} s on 2 cores (the jobs alone: {jobs * sleep / 2:.0f} s wall)")
    print(f"{'scheduler, job rate limit':26} {'CPU s':>8} {'wall s':>8} {'CPU ms/job':>11}")
    for name, (cpu, wall) in rows.items():
        print(f"{name:26} {cpu:8.1f} {wall:8.1f} {1000 * cpu / jobs:11.0f}")
    first, last = rows[next(iter(SETTINGS))], rows[list(SETTINGS)[-1]]
    print(f"profiles / defaults: CPU {last[0] / first[0]:.2f}, wall {last[1] / first[1]:.2f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 100, float(args[1]) if len(args) > 1 else 0.3)
