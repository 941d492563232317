"""Helpers of the completeness tests: a clock the test moves, shared by the puller, the
checks and the simulated WeCom (whose retention window follows it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from archive.puller import Puller, PullReport
from archive.simulator.conversations import GeneratedMessage
from tests.clock import weekday_afternoon_before
from tests.conftest import Edge


@dataclass
class MovableClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def ms(self) -> int:
        return int(self.now.timestamp() * 1000)


def clocked_edge(edge: Edge) -> MovableClock:
    """The edge with WeCom's clock (retention, token expiry) following a movable clock."""
    clock = MovableClock(weekday_afternoon_before(datetime.now(UTC)))
    edge.server.clock_ms = clock.ms
    edge.register_keys()
    return clock


def populate_until(edge: Edge, clock: MovableClock, count: int) -> list[GeneratedMessage]:
    """Up to ``count`` messages shortly before the clock's now (none after it)."""
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(count, end_ms=clock.ms(), messages_per_day=20_000, stop_at_end=True, record=sent)
    return sent


def pull(edge: Edge, clock: MovableClock) -> PullReport:
    context = edge.context()
    try:
        corp_id = edge.simulator.corp_id
        report = Puller(corp_id, context.source(corp_id), context.session_factory, clock=clock).run()
    finally:
        context.close()
    assert report.status == "completed", report.error
    return report
