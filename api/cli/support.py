"""What every command module shares: the consoles, opening the app from settings, one unit
of work, failing with a hint, the guarded run, the operator's name and principal, and the
option types several groups use.

Command modules import this module and nothing of ``api.cli`` itself: the root
(``api/cli/__init__.py``) imports them and registers their groups, never the other way round.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from api import unit_of_work
from api.context import AppContext
from archive.errors import ArchiveError
from audit.errors import AuditError
from audit.security import service as security
from audit.security.principal import Principal
from audit.security.roles import ROLE_PERMISSIONS, Role
from config.logs import configure_logging
from config.settings import ConfigError, load_settings

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

CorpOption = Annotated[str | None, typer.Option("--corp", help="Corp id (default: the configured one).")]


def open_context() -> AppContext:
    """The composition root from the effective settings, with logging configured."""
    settings = load_settings()
    configure_logging(settings.logging.level, json_output=settings.logging.json_output)
    return AppContext(settings)


def fail(message: str, hint: str = "") -> typer.Exit:
    """Print the error and what to do next; ``raise fail(...)`` exits with status 1."""
    err_console.print(f"[bold red]Error:[/] {message}")
    if hint:
        err_console.print(f"[yellow]What to do:[/] {hint}")
    return typer.Exit(code=1)


def guarded(action: Callable[[], T]) -> T:
    """``action()``; an archive, audit or settings error is printed with its hint by
    :func:`fail` (exit 1) instead of a traceback."""
    try:
        return action()
    except ArchiveError as exc:
        raise fail(str(exc).split(" — ")[0], exc.hint) from None
    except AuditError as exc:
        raise fail(str(exc), exc.hint) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None


def with_app(work: Callable[[AppContext], T]) -> T:
    """``work(context)`` with the app opened and its schema migrated, :func:`guarded`; the
    app is closed afterwards."""
    context = open_context()

    def migrated() -> T:
        context.migrate()
        return work(context)

    try:
        return guarded(migrated)
    finally:
        context.close()


@contextmanager
def transaction(context: AppContext) -> Iterator[Session]:
    """One unit of work for a command (commits on success, rolls back on any error)."""
    with unit_of_work.transaction(context) as session:
        yield session


def os_user(default: str = "cli") -> str:
    """Who runs the command (the OS user), or ``default`` when the system cannot say."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return default


def operator_principal(role: Role = Role.ADMIN) -> Principal:
    """Who the command line acts as: an administrator unless a command asks for a narrower
    role, named ``cli:<os user>`` in the access log and the trails
    (``audit.security.service.cli_principal`` for the administrator)."""
    user = os_user("")
    name = f"cli:{user}" if user else "cli"
    if role is Role.ADMIN:
        return security.cli_principal(name)
    return Principal(0, name[:64], role, ROLE_PERMISSIONS[role], "cli")
