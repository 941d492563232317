"""The scheduler process pulls on its interval, and a trigger pulls at once."""

from __future__ import annotations

import time

import pytest

from api.scheduler import PullScheduler
from tests.conftest import Edge, wait_for


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_scheduler_pulls_on_interval_and_on_trigger(edge: Edge) -> None:
    edge.simulator.populate(300, messages_per_day=20_000)
    edge.register_keys()
    scheduler = PullScheduler(edge.context(), interval_s=3600)  # only the first run is scheduled soon
    scheduler.start()
    corp_id = edge.simulator.corp_id
    try:
        wait_for(lambda: corp_id in scheduler.last_reports, timeout_s=60)
        assert scheduler.last_reports[corp_id].stored == 300
        edge.simulator.populate(50, messages_per_day=20_000, end_ms=int(time.time() * 1000) + 60_000)
        scheduler.trigger(corp_id)  # what a msgaudit_notify callback will do
        wait_for(lambda: scheduler.last_reports[corp_id].stored == 50, timeout_s=60)
        assert scheduler.heartbeat is not None
    finally:
        scheduler.shutdown()
