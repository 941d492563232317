"""What the process log shows: APScheduler's "skipped, still running" ticks are by design
(one run per job id) and would bury the demo's output; its other warnings still show."""

from __future__ import annotations

import io
import logging

from config.logs import configure_logging


def test_skipped_ticks_are_dropped_and_other_scheduler_warnings_kept() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    scheduler = logging.getLogger("apscheduler.scheduler")
    scheduler.warning('Execution of job "PullScheduler.pull" skipped: maximum number of running instances reached (1)')
    scheduler.warning('Run time of job "PullScheduler.pull" was missed by 0:00:07')
    scheduler.error('Job "PullScheduler.pull" raised an exception')
    shown = stream.getvalue()
    assert "maximum number of running instances" not in shown
    assert "was missed by" in shown and "raised an exception" in shown
