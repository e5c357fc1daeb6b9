"""Glue between Snakemake's `script:` directive and the library: the rule's log file, errors with their context, and
per-scan jobs whose data errors become failed placeholders (:mod:`wbrad.failures`) instead of a crash."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from wbrad import integrity
from wbrad.failures import Failure, ScanDataError, UpstreamFailed
from wbrad.io import remove_leftovers, write_placeholder

PET_RULES = ("convert_pet", "burden")  # per-scan rules whose scan is the PET (the others: the CT)
FINISHED = "rule %s finished: %s (CPU %.2f s, peak RSS %.0f MB)"  # a job log's last line; FINISHED_CPU reads it
FINISHED_CPU = re.compile(r"finished: .*\(CPU ([0-9.]+) s, peak RSS")
# wbrad.study (jsonschema, pandas, yaml) is imported only when a failure is recorded: every job imports this module


def optional_input(snakemake: Any, name: str) -> str | None:
    """A named input that an input function may leave empty (an empty list); None when absent."""
    value = getattr(snakemake.input, name, None)
    if value is None or (isinstance(value, list) and not value):
        return None
    return str(value)


@contextlib.contextmanager
def rule_logging(snakemake: Any) -> Iterator[logging.Logger]:
    """Log to the rule's log file; an exception is logged with the rule and its wildcards, then re-raised."""
    handler = (
        logging.FileHandler(snakemake.log[0], mode="w", encoding="utf-8") if snakemake.log else logging.StreamHandler()
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=[handler], force=True
    )
    context = " ".join(f"{key}={value}" for key, value in snakemake.wildcards.items())
    logger = logging.getLogger("wbrad")
    logger.info("rule %s started: %s (threads %s)", snakemake.rule, context, snakemake.threads)
    limit_itk_threads(snakemake.threads)
    for output in _files(snakemake.output):
        for stale in remove_leftovers(output):
            logger.warning("removed %s, left by an interrupted earlier run of this job", stale)
    try:
        yield logger
    except Exception:
        logger.exception("rule %s failed: %s", snakemake.rule, context)
        raise
    cpu_s, peak_mb = process_usage()
    logger.info(FINISHED, snakemake.rule, context, cpu_s, peak_mb)


def process_usage() -> tuple[float, float]:
    """CPU seconds (user and system) of this process and its finished children, and its peak RSS in MB.

    Exact where Snakemake's ``benchmark:`` samples every 0.5 s and misses the end of a short job (its cpu_time)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return cpu, max(own.ru_maxrss, children.ru_maxrss) / 1024  # ru_maxrss is in kB on Linux


def limit_itk_threads(threads: int) -> None:
    """ITK's filters to the job's ``threads`` (ITK takes every core by default, and jobs run side by side).

    Snakemake sets ``OMP_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` for a job, but not ITK's. Only where the job
    imported SimpleITK already: importing it costs a job that has no use for it 0.2 s."""
    if (sitk := sys.modules.get("SimpleITK")) is not None:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, int(threads)))


def _files(named: Iterable[Any]) -> list[str]:
    """The paths of a Snakemake input or output list (nested lists flattened)."""
    out: list[str] = []
    for item in named:
        out += _files(item) if isinstance(item, list | tuple) else [str(item)]
    return out


def upstream_failure(paths: Iterable[str]) -> UpstreamFailed | None:
    """The error for the first of ``paths`` that is a failed placeholder; None when none is."""
    return next((UpstreamFailed(f, p) for p in paths if (f := integrity.failure_of(p)) is not None), None)


def _modality(snakemake: Any, wildcards: dict[str, str]) -> str:
    from wbrad import study

    if "modality" in wildcards:
        return study.modality(wildcards["modality"])
    return study.PET if snakemake.rule in PET_RULES else study.CT


def scan_failure(snakemake: Any, err: ScanDataError) -> Failure:
    """The failure record of this job's scan: the upstream one for an UpstreamFailed, else this rule's."""
    if isinstance(err, UpstreamFailed) and err.failure is not None:
        return err.failure
    wildcards = dict(snakemake.wildcards.items())
    return Failure(snakemake.rule, wildcards.get("patient", ""), wildcards.get("timepoint", ""),
                   _modality(snakemake, wildcards), str(err))


def write_failed_outputs(outputs: Iterable[str], failure: Failure) -> None:
    """Every output as a failed placeholder; a path without a suffix is a directory output (the segmentation)."""
    for output in outputs:
        write_placeholder(output, failure.record(), directory=not Path(output).suffix)


def run_scan(snakemake: Any, work: Callable[..., None], upstream: bool = True, **kwargs: Any) -> None:
    """Run ``work(**kwargs)`` for a per-scan (or per-patient) job under ``rule_logging``.

    With ``upstream``, an input that is a failed placeholder skips the work; a ScanDataError raised by the work (or
    such an input) makes every declared output a failed placeholder, with one warning naming patient, timepoint,
    file and reason, and the job succeeds. Any other exception fails the job as before.
    """
    with rule_logging(snakemake) as log:
        outputs = _files(snakemake.output)
        try:
            if upstream and (failed := upstream_failure(_files(snakemake.input))) is not None:
                raise failed
            work(**kwargs)
        except ScanDataError as err:
            failure = scan_failure(snakemake, err)
            write_failed_outputs(outputs, failure)
            how = "failed upstream" if isinstance(err, UpstreamFailed) else "data error"
            line = (f"rule {snakemake.rule}: scan {failure.patient} {failure.timepoint} {failure.modality} recorded as "
                    f"failed ({how}): {err}; the other patients go on")
            log.warning("%s; outputs written as failed placeholders: %s", line, ", ".join(outputs))
            print(f"wbrad: {line}", file=sys.stderr)  # on Snakemake's console


def cancel_rescheduling_timers() -> int:
    """Cancel Snakemake's pending re-selection timers, once the run is over (the Snakefile's ``onsuccess`` and
    ``onerror``); returns how many.

    After every selection round that leaves jobs waiting for cores, Snakemake 9 starts a ``threading.Timer`` that
    selects again one ``--max-jobs-per-timespan`` timespan later (``JobScheduler._schedule_reevalutation``), and every
    finished job starts another round: at the default 100/1s the re-runs of a run with hundreds of jobs pile up to
    tens a second, each checking the input files of every waiting job, which took most of Snakemake's own CPU in the
    demo. The profiles count the same rate over 10 minutes, so these rounds become rare; the timers are no daemon
    threads, and without this the finished process would wait for the last one (``benchmarks/scheduler.py``)."""
    timers = [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)
              and getattr(thread.function, "__module__", "").startswith("snakemake.scheduling")]
    for timer in timers:
        timer.cancel()
    return len(timers)
