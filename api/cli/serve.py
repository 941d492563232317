"""``wecom-audit run`` (the scheduler process), ``serve`` (the API) and ``demo`` (both, against
a simulated company). Translates and delegates only."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
import uvicorn

from api.app import ApiServer, create_app, server_config
from api.cli.archive import run_scheduler
from api.cli.support import console, guarded, open_context
from api.demo import LiveTraffic, SentimentTraining, ensure_demo_users, prepare_demo
from api.routes.callback import pull_in_background
from config.logs import configure_logging
from config.settings import Settings, load_settings


def run() -> None:
    """The scheduler process: pull every configured corp on the interval."""
    run_scheduler(open_context())


def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default: the api.host setting).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: the api.port setting).")] = None,
) -> None:
    """The audit API, the WeCom callback, /health and /metrics."""
    context = open_context()
    context.migrate()
    settings = context.settings.api
    try:
        app_ = create_app(context, trigger_pull=pull_in_background(context))
        config = server_config(context, app_, host or settings.host, port or settings.port, access_log=True)
        uvicorn.Server(config).run()
    finally:
        context.close()


def demo(
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between pulls.")] = 5.0,
) -> None:
    """Run wecom-audit against a simulated company: history, live chats, pulled every few seconds."""
    settings: Settings = load_settings()
    configure_logging("WARNING", json_output=False)
    settings.scheduler.pull_interval_s = interval
    environment = guarded(lambda: prepare_demo(settings, console))
    traffic = LiveTraffic(environment.simulator, settings.simulator.live_messages_per_minute)
    traffic.start()
    web = ApiServer(environment.context, settings.api.host, settings.api.port).start()
    console.print(
        f"Simulated WeCom for [bold]{environment.simulator.company.name}[/] ({environment.simulator.corp_id}) "
        f"at {environment.server.url}; data in {settings.data_dir}/\n"
        f"Archive status as JSON: {web.url}/api/v1/archive/status"
    )
    console.print(f"Web console: [bold]{web.url}/console/[/]   API docs: {web.url}/api/docs")
    for username, password in ensure_demo_users(environment.context).items():
        console.print(f"  sign in as [bold]{username}[/] / {password} (shown once)")
    try:
        training = SentimentTraining(settings, console)
        run_scheduler(environment.context, show=sys.stdout.isatty(), duration_s=duration, on_started=training.start)
    finally:
        web.stop()
        traffic.stop()
        environment.server.stop()
