"""Liveness and readiness (no authentication: no content here) and Prometheus metrics (the
scrape token: corp ids, volumes and lag are nobody else's business)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from anyio import to_thread
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from api.auth.guards import context_of, metrics_scraper
from api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from api.schemas import Health, Readiness, ReadyCheck
from api.unit_of_work import Context, transaction
from archive import repository
from archive.clock import utcnow

# The scheduler's heartbeat is stale after this many pull intervals.
HEARTBEAT_INTERVALS = 3


@get("/health/live", sync_to_thread=False)
def live() -> Health:
    """The process is up (no dependency is checked: see /health/ready)."""
    return Health(status="ok")


@get("/health/ready", responses={503: ResponseSpec(Readiness, description="Not ready")})
async def ready(request: Request[Any, Any, Any]) -> Response[Readiness]:
    """Database reachable, search backend healthy, scheduler beating (when this process
    runs one)."""
    context = context_of(request)
    checks = [await to_thread.run_sync(_database_check, context)]
    backend = request.app.state.get("search_backend")
    if backend is not None:
        try:
            healthy = bool(await backend.health())
            checks.append(ReadyCheck("search", healthy, "healthy" if healthy else "unhealthy"))
        except Exception as exc:  # readiness reports any failure as "not ready"
            checks.append(ReadyCheck("search", False, type(exc).__name__))
    scheduler = request.app.state.get("scheduler")
    if scheduler is not None:
        heartbeat = scheduler.heartbeat
        limit = timedelta(seconds=scheduler.interval_s * HEARTBEAT_INTERVALS)
        fresh = heartbeat is not None and utcnow() - heartbeat <= limit
        checks.append(ReadyCheck("scheduler", fresh, "beating" if fresh else "no recent pull"))
    ok = all(check.ok for check in checks)
    return Response(Readiness("ready" if ok else "not_ready", checks), status_code=200 if ok else 503)


def _database_check(context: Context) -> ReadyCheck:
    try:
        with transaction(context) as session:
            repository.ping(session)
        return ReadyCheck("database", True, "reachable")
    except Exception as exc:  # readiness reports any failure as "not ready"
        return ReadyCheck("database", False, type(exc).__name__)


@get("/metrics", sync_to_thread=True, media_type="text/plain", include_in_schema=False, guards=[metrics_scraper])
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(request.app.state["metrics"].render(), media_type=METRICS_CONTENT_TYPE)
