"""structlog setup: JSON lines in production, readable lines on a terminal.

Events have stable dotted names (``archive.pull.completed``) and carry counts and
durations only — never message content, keys or secrets (a test checks the logs).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing (not at configuration):
    a test harness or a CLI runner may swap and close the stream in between."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(level: str = "INFO", *, json_output: bool = False, stream: TextIO | None = None) -> None:
    out: TextIO = stream or _CurrentStderr()  # type: ignore[assignment]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Libraries that use stdlib logging (alembic, apscheduler) go to the same stream.
    logging.basicConfig(level=level.upper(), stream=out, format="%(levelname)s %(name)s: %(message)s", force=True)
    # httpx logs request URLs, and WeCom puts the secret and token in the query string.
    for noisy in ("apscheduler", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").addFilter(_skipped_while_running)


def _skipped_while_running(record: logging.LogRecord) -> bool:
    """Drop APScheduler's warning that a tick was skipped because the job's previous run is
    still going: by design (one run per job id, the next tick absorbs the work), not news."""
    return "maximum number of running instances reached" not in record.getMessage()


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
