"""CPU seconds a rule script spends before its work: interpreter start, Snakemake's ``script:`` preamble (unpickling
the ``snakemake`` object: ``snakemake.logging`` and ``snakemake.iocontainers``) and the imports of each rule's module.

Run: `python benchmarks/job_overhead.py [repeats]`. Each line is the median over ``repeats`` fresh interpreters of
user + system CPU time; ``preamble`` is the floor every ``script:`` job pays whatever it imports (issue 16).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PREAMBLE = "import pickle; from snakemake.logging import logger; from snakemake.iocontainers import Snakemake"
JOBS = {  # rule: the module its script imports first (the others it imports are light)
    "convert_ct, convert_pet": "wbrad.convert.run",
    "segment": "wbrad.bodycomp.backends",
    "bodycomp": "wbrad.bodycomp.run",
    "lesions": "wbrad.lesions.run",
    "burden": "wbrad.burden.run",  # it draws the MIP too (wbrad.burden.mip)
    "register": "wbrad.tracking.register",
    "track": "wbrad.tracking.run",  # it draws the QC picture too (wbrad.tracking.qc)
    "delta": "wbrad.delta.run",
}


def cpu_seconds(code: str, repeats: int) -> float:
    """Median CPU seconds (user + system) of ``python -c code`` in a fresh interpreter."""
    times = []
    for _ in range(repeats):
        before = os.times()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        after = os.times()
        times.append(after.children_user - before.children_user + after.children_system - before.children_system)
    return statistics.median(times)


def main(repeats: int = 5) -> None:
    path = f"import sys; sys.path.insert(0, {str(SRC)!r}); "
    print(f"{'interpreter':<28}{cpu_seconds('pass', repeats):6.2f} s")
    print(f"{'preamble (script: floor)':<28}{cpu_seconds(PREAMBLE, repeats):6.2f} s")
    for rule, module in JOBS.items():
        print(f"{rule:<28}{cpu_seconds(f'{path}{PREAMBLE}; import {module}', repeats):6.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
