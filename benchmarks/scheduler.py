"""CPU seconds Snakemake's own process spends scheduling a local run, with the ILP scheduler against the greedy one.

A local run is one Snakemake process that selects, starts and checks every job; on 2 cores that process competes
with the jobs. With PuLP installed (it comes with Snakemake), ``--scheduler ilp`` is the default: at every selection
round it builds and solves an integer programme over the ready jobs, which only pays where ``temp()`` files must be
deleted early (wbrad has none). This benchmark runs the same DAG of trivial jobs (per patient a chain of 4 rules, then
one cohort job, as wbrad's per-scan stages) with each scheduler, side by side, and prints the CPU seconds of the
Snakemake process and its children (the jobs' own cost is a ``touch``).

Run: `python benchmarks/scheduler.py [patients]` (default 150: 601 jobs, close to the demo's 779).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEFILE = """
P = [f"P{i:03d}" for i in range(int(config["patients"]))]

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
    shell: "touch {output}"

rule b:
    input: "{p}/a.txt"
    output: "{p}/b.txt"
    threads: 1
    shell: "touch {output}"

rule c:
    input: "{p}/b.txt"
    output: "{p}/c.txt"
    threads: 1
    shell: "touch {output}"

rule d:
    input: "{p}/c.txt"
    output: "{p}/d.txt"
    threads: 1
    shell: "touch {output}"
"""


def run(folder: Path, scheduler: str, patients: int) -> tuple[float, float]:
    """(CPU seconds of snakemake and its children, wall seconds) of one complete run."""
    folder.mkdir()
    (folder / "Snakefile").write_text(SNAKEFILE)
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--scheduler", scheduler, "--config",
               f"patients={patients}", "--quiet", "all"]
    before, start = os.times(), time.perf_counter()
    subprocess.run(command, cwd=folder, check=True, capture_output=True)
    after = os.times()
    cpu = after.children_user - before.children_user + after.children_system - before.children_system
    return cpu, time.perf_counter() - start


def main(patients: int = 150) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = {name: run(Path(tmp) / name, name, patients) for name in ("ilp", "greedy")}
    print(f"{patients * 4 + 2} trivial jobs on 2 cores")
    print(f"{'scheduler':10} {'CPU s':>8} {'wall s':>8} {'CPU ms/job':>11}")
    for name, (cpu, wall) in rows.items():
        print(f"{name:10} {cpu:8.1f} {wall:8.1f} {1000 * cpu / (patients * 4 + 2):11.0f}")
    print(f"greedy / ilp: CPU {rows['greedy'][0] / rows['ilp'][0]:.2f}, wall {rows['greedy'][1] / rows['ilp'][1]:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 150)
