"""Prometheus metrics: request latency (recorded per request) and the archive's state
(read from the database at scrape time, so every process reports the same truth).

One registry per app, not the global one: several apps in a process (tests, the demo)
must not collide."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.unit_of_work import transaction
from archive import repository
from archive.clock import utcnow
from archive.outbox.queue import depth
from archive.status import collect_status
from audit.alerts.queries import alerts_by_corp_and_status
from search.indexer import search_lag

if TYPE_CHECKING:
    from api.context import AppContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ArchiveCollector(Collector):
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        pulls = CounterMetricFamily(
            "wecom_audit_pull_runs", "Pull runs by corp and outcome", labels=["corp_id", "status"]
        )
        stored = GaugeMetricFamily("wecom_audit_messages_stored", "Messages in the archive", labels=["corp_id"])
        lag = GaugeMetricFamily("wecom_audit_lag_seconds", "Age of the newest archived message", labels=["corp_id"])
        quarantine = GaugeMetricFamily(
            "wecom_audit_quarantine_open", "Unresolved quarantined records", labels=["corp_id"]
        )
        outbox = GaugeMetricFamily(
            "wecom_audit_outbox_depth",
            "Outbox entries waiting per stage (a stored message waits in detect, then in search)",
            labels=["consumer"],
        )
        search = GaugeMetricFamily(
            "wecom_audit_search_lag_seconds",
            "How long the oldest stored message not yet searchable has waited since it was stored "
            "(detection and indexing both count: messages are indexed after detection)",
        )
        alerts = GaugeMetricFamily("wecom_audit_alerts", "Alerts by status", labels=["corp_id", "status"])
        now = utcnow()
        with transaction(self.context) as session:
            for corp_id, status, count in repository.pull_runs_by_status(session):
                pulls.add_metric([corp_id, status], count)
            corp_ids = {c.corp_id for c in self.context.settings.corps()} | set(repository.known_corp_ids(session))
            for corp_id in sorted(corp_ids):
                report = collect_status(session, corp_id, now)
                stored.add_metric([corp_id], report.counts.messages)
                quarantine.add_metric([corp_id], report.counts.quarantined_open)
                if report.lag_s is not None:
                    lag.add_metric([corp_id], report.lag_s)
            for entry in depth(session):
                outbox.add_metric([entry.consumer], entry.entries)
            search.add_metric([], search_lag(session).age_s(now) or 0.0)
            for corp_id, status, count in alerts_by_corp_and_status(session):
                alerts.add_metric([corp_id, status], count)
        yield from (pulls, stored, lag, quarantine, outbox, search, alerts)


class ApiMetrics:
    def __init__(self, context: AppContext) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.request_seconds = Histogram(
            "wecom_audit_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.callback_events = Counter(
            "wecom_audit_callback_events",
            "WeCom callback deliveries by event and outcome",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.registry.register(ArchiveCollector(context))

    def observe_request(self, method: str, route: str, status: int, elapsed_s: float) -> None:
        self.request_seconds.labels(method, route, str(status)).observe(elapsed_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
