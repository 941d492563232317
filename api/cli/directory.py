"""``wecom-audit directory …``: sync the directory from WeCom now, and see where it stands.

The same sync as the scheduler's daily job and the callback trigger (ADR 0020): 通讯录 and
customers with the 客户联系 secret, internal groups and robots with the 会话内容存档 secret.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.support import CorpOption, console, guarded, open_context, transaction
from api.context import AppContext
from archive.directory.jobs import run_sync
from archive.directory.service import DirectorySyncStatus, sync_status
from archive.directory.sync import DirectorySyncReport

app = typer.Typer(help="The directory (departments, members, customers, groups) from WeCom.", no_args_is_help=True)


@app.command("sync")
def sync(corp: CorpOption = None) -> None:
    """Sync the directory from WeCom now (or finish an interrupted sync from its step)."""
    context = open_context()
    try:
        report = guarded(lambda: _synced(context, corp))
    finally:
        context.close()
    resumed = f", resumed at step {report.resumed_from}" if report.resumed_from else ""
    console.print(
        f"Directory of {report.corp_id} synced in {report.duration_s:.1f} s "
        f"with {report.api_calls} WeCom calls{resumed}."
    )
    _print_counts(report.counts)


def _synced(context: AppContext, corp: str | None) -> DirectorySyncReport:
    corp_settings = context.settings.corp(corp)
    context.migrate()
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=max(total, 1))
            progress.update(tasks[step], completed=done if total else 1, total=max(total, 1))

        return run_sync(
            context.session_factory,
            corp_settings,
            calls_per_minute=context.settings.scheduler.directory_calls_per_minute,
            trigger="cli",
            progress=on_progress,
        )


@app.command("status")
def status(corp: CorpOption = None) -> None:
    """The last sync's report, or the step a sync is in (or was interrupted at)."""
    context = open_context()
    try:
        corp_id, current = guarded(lambda: _status(context, corp))
    finally:
        context.close()
    if current.step is not None:
        state = "running" if current.lease_holder else "interrupted"
        console.print(f"A sync of {corp_id} is {state} at step {current.step}.")
    if current.error:
        console.print(f"[red]Last error:[/] {current.error}")
    report: dict[str, Any] | None = current.last_report
    if report is None:
        console.print(f"No directory sync of {corp_id} has finished yet. Run `wecom-audit directory sync`.")
        return
    console.print(f"Last sync of {corp_id} finished {report['finished_at']} ({report['api_calls']} WeCom calls).")
    _print_counts(report["counts"])


def _status(context: AppContext, corp: str | None) -> tuple[str, DirectorySyncStatus]:
    corp_id = context.settings.corp(corp).corp_id
    context.migrate()
    with transaction(context) as session:
        return corp_id, sync_status(session, corp_id)


def _print_counts(counts: dict[str, int]) -> None:
    if not counts:
        console.print("Nothing changed.")
        return
    table = Table("what", "count")
    for key, value in sorted(counts.items()):
        table.add_row(key, str(value))
    console.print(table)
