"""The Litestar application factory: the JSON API under /api/v1, the WeCom callback,
health, metrics and the offline API docs (/api/docs).

Every request gets a request id and security headers (``api.middleware``); errors are
problem details from one mapping (``api.errors``); callers authenticate with a session
cookie or an API token and are authorised per route by permission (``api.auth.guards``);
chat content leaves only through the access gate (``api.routes.content``).
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import uvicorn
from litestar import Litestar
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ControllerRouterHandler, Method, OperationIDCreator
from litestar.types.internal_types import PathParameterDefinition

from api import console, unit_of_work
from api.context import AppContext
from api.errors import PROBLEM_JSON, exception_handlers
from api.metrics import ApiMetrics
from api.middleware import request_middleware
from api.routes import (
    access_log,
    admin,
    archive,
    auth,
    callback,
    completeness,
    consent,
    content,
    directory,
    docs,
    exports,
    handover,
    integrity,
    monitor,
    operations,
    overview,
    retention,
    review,
    rules,
    search,
    workflow,
)
from api.schemas import Problem
from archive.directory.jobs import DirectorySyncTrigger

# Routes of features built beside this one register here (one line per module).
FEATURE_ROUTES: list[ControllerRouterHandler] = []


def _version() -> str:
    try:
        return version("wecom-audit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def route_handlers() -> list[ControllerRouterHandler]:
    return [
        operations.live,
        operations.ready,
        operations.metrics,
        callback.verify_url,
        callback.deliver,
        consent.consent,
        consent.customer_consent,
        *auth.HANDLERS,
        archive.archive_status,
        archive.archive_completeness,
        content.list_conversations,
        content.conversation_messages,
        content.message_detail,
        content.message_context,
        content.message_media,
        *search.HANDLERS,
        *exports.HANDLERS,
        *admin.HANDLERS,
        workflow.list_alerts,
        workflow.get_alert,
        workflow.alert_matches,
        workflow.review_alert,
        workflow.list_rules,
        workflow.export_rules,
        workflow.export_rules_workbook,
        workflow.import_rules,
        rules.get_rule_group,
        rules.create_rule_group,
        rules.update_rule_group,
        rules.enable_rule_group,
        rules.disable_rule_group,
        rules.delete_rule_group,
        rules.simulate,
        monitor.monitor_groups,
        monitor.group_series,
        monitor.group_top_words,
        monitor.employee_metrics,
        *access_log.HANDLERS,
        handover.list_cases,
        handover.open_case,
        handover.show_case,
        handover.customer_dossier,
        handover.decide,
        handover.accept_suggestions,
        handover.execute,
        handover.poll,
        handover.report_html,
        handover.report_pdf,
        handover.sign_off,
        directory.start_directory_sync,
        directory.directory_status,
        *review.HANDLERS,
        consent.check_consent,
        monitor.run_monitor,
        monitor.rebuild_monitor,
        overview.get_overview,
        *retention.HANDLERS,
        *integrity.HANDLERS,
        *completeness.HANDLERS,
        docs.assets_router(),
        *FEATURE_ROUTES,
        *console.routes(),  # the web console under /console (fails clearly if its assets are not built)
    ]


PROBLEM_STATUSES = {
    400: "Invalid request",
    401: "Not signed in, or the credentials are invalid",
    403: "Not allowed (role, token permission, data scope or CSRF)",
    404: "Not found",
    409: "Conflict",
    423: "Account locked",
    428: "A purpose is required to read chat content",
    429: "Too many requests",
    502: "WeCom refused the request",
    503: "Temporarily unavailable",
}


SEPARATORS = re.compile(r"[!#$%&'*+\-.^_`|~:]+")  # as Litestar cleans its operation ids


def _operation_id_of(name: str) -> OperationIDCreator:
    """Litestar's own operation id (path components, then the method when the handler
    serves several, then the function), computed from the function's real name."""

    def operation_id(handler: HTTPRouteHandler, method: Method, components: list[str | PathParameterDefinition]) -> str:
        own = name.title() if len(handler.http_methods) == 1 else method.title() + name.title()
        path = ""
        for component in (c.name if isinstance(c, PathParameterDefinition) else c for c in components):
            if component.title() not in path:
                path += component.title()
        return SEPARATORS.sub("", path + own)

    return operation_id


def _document_problems(handlers: Sequence[ControllerRouterHandler]) -> None:
    """Every operation may answer with these problems; say so in the OpenAPI document.

    The summary, description and operation id are taken from the handler function now:
    once registered, a sync handler that shares its path with another method is wrapped
    to run in a thread, and Litestar would name and describe the wrapper instead."""
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler):
            name = handler.fn.__name__
            if handler.summary is None:
                handler.summary = "".join(part.title() for part in name.split("_"))
            if handler.description is None and handler.fn.__doc__:
                handler.description = inspect.cleandoc(handler.fn.__doc__)
            if handler.operation_id is None:
                handler.operation_id = _operation_id_of(name)
            documented = dict(handler.responses or {})
            for status, description in PROBLEM_STATUSES.items():
                documented.setdefault(status, ResponseSpec(Problem, description=description, media_type=PROBLEM_JSON))
            handler.responses = documented


def create_app(
    context: AppContext,
    *,
    trigger_pull: Callable[[str], None] | None = None,
    scheduler: Any = None,
    extra_routes: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """The app over one context. ``trigger_pull`` (usually ``PullScheduler.trigger``) lets a
    ``msgaudit_notify`` callback pull at once; ``scheduler`` (with ``heartbeat`` and
    ``interval_s``) feeds /health/ready when this process runs one."""
    metrics = ApiMetrics(context)
    state = State(
        {
            "context": context,
            "metrics": metrics,
            "callback": callback.CallbackHandler(
                context.settings, trigger_pull or (scheduler.trigger if scheduler is not None else None)
            ),
            "scheduler": scheduler,
            # Directory syncs asked for by callbacks and admins, in the background (ADR 0020).
            "directory_sync": DirectorySyncTrigger(
                context.session_factory,
                context.settings.corp,
                calls_per_minute=context.settings.scheduler.directory_calls_per_minute,
                debounce_s=context.settings.scheduler.directory_sync_debounce_s,
            ),
        }
    )
    handlers = [*route_handlers(), *extra_routes]
    _document_problems(handlers)
    return Litestar(
        route_handlers=handlers,
        dependencies=unit_of_work.dependencies(),
        middleware=[request_middleware(metrics)],
        exception_handlers=exception_handlers(),
        openapi_config=docs.openapi_config(_version(), public=context.settings.api.public_docs),
        state=state,
        on_startup=[search.open_search],
        on_shutdown=[search.close_search],
        logging_config=None,
        # Bodies are small JSON documents; media is only ever downloaded.
        request_max_body_size=1024 * 1024,
    )


def server_config(context: AppContext, app: Litestar, host: str, port: int, *, access_log: bool) -> uvicorn.Config:
    """How every entry point serves the app (``wecom-audit serve``, the demo, the tests).

    uvicorn's own default (``proxy_headers=True``) takes X-Forwarded-For and -Proto from any
    loopback peer as the client's address and scheme, so a local client or a proxy that passes
    the header through could choose the address the login rate limit and the access log see.
    Forwarded headers are honoured only when ``auth.trust_proxy_headers`` says a proxy sets them."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=access_log,
        proxy_headers=context.settings.auth.trust_proxy_headers,
    )


class ApiServer:
    """uvicorn in a background thread (the demo runs it beside the scheduler)."""

    def __init__(self, context: AppContext, host: str, port: int, **app_options: Any) -> None:
        config = server_config(context, create_app(context, **app_options), host, port, access_log=False)
        self.server = uvicorn.Server(config)
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self.server.run, name="api-server", daemon=True)

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
