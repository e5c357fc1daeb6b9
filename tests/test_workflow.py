"""wbrad.workflow's run-level helper: Snakemake's pending re-selection timers cancelled when a run ends."""

from __future__ import annotations

import threading

from wbrad.workflow import cancel_rescheduling_timers


def _reselect() -> None:
    """Stands for JobScheduler._schedule_reevalutation's callback (a lambda of snakemake.scheduling.job_scheduler)."""


_reselect.__module__ = "snakemake.scheduling.job_scheduler"


def test_only_snakemake_s_rescheduling_timers_are_cancelled() -> None:
    ours, other = threading.Timer(600, _reselect), threading.Timer(600, print)
    for timer in (ours, other):
        timer.start()
    try:
        assert cancel_rescheduling_timers() == 1
        ours.join(timeout=5)
        assert not ours.is_alive() and ours.finished.is_set()
        assert other.is_alive() and not other.finished.is_set()
    finally:
        other.cancel()
    assert cancel_rescheduling_timers() == 0
