"""What every command module shares: opening the app from settings, and failing with a hint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from api import unit_of_work
from api.context import AppContext
from config.logs import configure_logging
from config.settings import load_settings

err_console = Console(stderr=True)


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


@contextmanager
def transaction(context: AppContext) -> Iterator[Session]:
    """One unit of work for a command (commits on success, rolls back on any error)."""
    with unit_of_work.transaction(context) as session:
        yield session
