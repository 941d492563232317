"""The ``wecom-audit`` command line (typer + rich). It translates and delegates only.

This module is the root: the app, its ``--config`` option, :func:`main`, and the one place
where every command and group is registered. Each area is a module of this package with
module-level groups and commands (``archive``, ``serve``, ``integrity``, ``detect``,
``search``, ``completeness``, ``retention``, ``alerts``, ``users``, ``handover``,
``directory``, ``consent``, ``nlp``, ``monitor``); what they share is ``api.cli.support``.
They never import this module, so there is no import cycle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from api.cli import (
    alerts,
    archive,
    completeness,
    consent,
    detect,
    directory,
    handover,
    integrity,
    monitor,
    nlp,
    retention,
    search,
    serve,
    users,
)
from api.cli.support import err_console
from config.database_errors import unusable_database_reason
from config.settings import CONFIG_FILE_ENV, ConfigError

app = typer.Typer(help="Compliance archive and audit for WeCom (企业微信会话内容存档).", no_args_is_help=True)


@app.callback()
def main_callback(
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.", envvar=CONFIG_FILE_ENV)] = None,
) -> None:
    if config is not None:
        os.environ[CONFIG_FILE_ENV] = str(config)


# Commands, then groups, each in the order `wecom-audit --help` lists them.
app.command("init")(archive.init)
app.command("pull")(archive.pull)
app.command("status")(archive.status)
app.command("run")(serve.run)
app.command("serve")(serve.serve)
app.command("demo")(serve.demo)
app.command("verify")(integrity.verify)
app.command("export")(integrity.export)
app.command("verify-export")(integrity.verify_export)
app.command("checkpoint")(integrity.checkpoint)
app.command("detect")(detect.detect)
app.command("search")(search.search)
app.command("reindex")(search.reindex)
app.command("completeness")(completeness.completeness)

app.add_typer(archive.keys_app, name="keys")
app.add_typer(archive.quarantine_app, name="quarantine")
app.add_typer(archive.config_app, name="config")
app.add_typer(archive.media_app, name="media")
app.add_typer(retention.app, name="retention")
app.add_typer(alerts.app, name="alerts")
app.add_typer(users.app, name="users")
app.add_typer(users.tokens_app, name="tokens")
app.add_typer(users.access_log_app, name="access-log")
app.add_typer(handover.app, name="handover")
app.add_typer(directory.app, name="directory")
app.add_typer(consent.app, name="consent")
app.add_typer(detect.lexicon_app, name="lexicon")
app.add_typer(nlp.app, name="nlp")
app.add_typer(monitor.groups_app, name="groups")
app.add_typer(monitor.replies_app, name="replies")
app.add_typer(monitor.monitor_app, name="monitor")


def main() -> None:
    """The ``wecom-audit`` command. What the operator must fix is one line and what to do,
    never a traceback: settings, an unreachable database, a data directory it cannot use."""
    try:
        app()
    except ConfigError as exc:
        _exit_with(str(exc), "fix what the line above names, then run the command again")
    except (NotADirectoryError, FileExistsError, PermissionError) as exc:
        _exit_with(
            f"Cannot use {exc.filename}: {exc.strerror}.",
            "WECOM_AUDIT_DATA_DIR must be a directory this user can write (it is created if missing)",
        )
    except Exception as exc:
        reason = unusable_database_reason(exc)
        if reason is None:
            raise
        _exit_with(
            f"The database cannot be used ({reason}).",
            "check WECOM_AUDIT_DATABASE__URL, that the server runs and accepts this user, and free disk space",
        )


def _exit_with(message: str, hint: str) -> NoReturn:
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
    err_console.print(f"[yellow]What to do:[/] {hint}", highlight=False, soft_wrap=True)
    raise SystemExit(2)
