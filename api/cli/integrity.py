"""The integrity commands of ``wecom-audit``: verify, export, verify-export, checkpoint.

``api.cli`` registers them on the root app. Like the rest of the CLI they translate and
delegate only. What they print names positions, msgids and seqs — never content.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli.support import console, err_console, fail, guarded, open_context
from api.context import AppContext
from archive.integrity.checkpoints import checkpoint_path
from archive.integrity.export import export as export_messages
from archive.integrity.export import verify_export as verify_export_dir
from archive.integrity.jobs import checkpoint_corps
from archive.integrity.verify import VerifyReport, verify_corp
from config.logs import configure_logging
from config.settings import Settings, load_settings

# Unlike elsewhere, no --corp means every configured corp.
AllCorpsOption = Annotated[str | None, typer.Option("--corp", help="Corp id (default: every configured corp).")]


def verify(corp: AllCorpsOption = None) -> None:
    """Recompute the hash chain over stored messages and report the first broken link."""
    context = open_context()
    broken = False
    try:
        context.migrate()
        for corp_id in _corp_ids(context, corp):
            report = guarded(partial(_verify_with_progress, context, corp_id))
            _print_verify(report, checkpoint_path(context.settings, corp_id))
            broken |= not report.ok
    finally:
        context.close()
    if broken:
        raise typer.Exit(code=1)


def _verify_with_progress(context: AppContext, corp_id: str) -> VerifyReport:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(f"Verifying {corp_id}", total=None)
        return verify_corp(
            context.session_factory,
            context.settings,
            corp_id,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )


def _print_verify(report: VerifyReport, checkpoint_file: Path) -> None:
    if report.broken is not None:
        err_console.print(f"[bold red]The chain of {report.corp_id} is broken:[/] {report.broken.describe()}")
        err_console.print(
            f"[yellow]What to do:[/] treat this as possible tampering. Compare {checkpoint_file} with its "
            "off-site copy and the database with its backups, starting at that position."
        )
        return
    console.print(
        f"The chain of [bold]{report.corp_id}[/] verified: {report.links_checked:,} links "
        f"({report.messages_checked:,} messages, {report.tombstones:,} tombstones), "
        f"{report.checkpoints_checked:,} checkpoint entries matched, {report.duration_s:.1f} s."
    )
    if report.checkpoint is not None:
        console.print(f"Checkpoint written at position {report.checkpoint.position:,} to {checkpoint_file}.")


def export(
    out_dir: Annotated[Path, typer.Argument(help="New or empty directory to write the export into.")],
    corp: Annotated[str | None, typer.Option("--corp", help="Corp id (default: the configured one).")] = None,
    conversation: Annotated[int | None, typer.Option("--conversation", help="Only this conversation id.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO time; messages at or after it (naive = UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time; messages before it (naive = UTC).")] = None,
) -> None:
    """Export messages with their chain hashes and a manifest that `verify-export` checks."""
    context = open_context()
    try:
        corp_id = corp or guarded(lambda: context.settings.corp().corp_id)
        context.migrate()
        report = guarded(
            lambda: export_messages(
                context.session_factory,
                corp_id,
                out_dir,
                conversation_id=conversation,
                since=_parse_time(since, "--since"),
                until=_parse_time(until, "--until"),
            )
        )
    finally:
        context.close()
    console.print(f"Exported {report.messages:,} messages of {corp_id} to {report.out_dir}.")


def verify_export(
    directory: Annotated[Path, typer.Argument(help="A directory written by `wecom-audit export`.", file_okay=False)],
) -> None:
    """Check an export: its manifest, its files' SHA-256 and every record's hash."""
    _configure_logs(load_settings())
    report = verify_export_dir(directory)
    if report.ok:
        console.print(f"Export verified: {report.messages:,} messages, every hash matches.")
        return
    err_console.print(f"[bold red]The export in {directory} does not verify[/] ({report.problem_count} problems):")
    for problem in report.problems:
        err_console.print(f"  {problem}")
    raise typer.Exit(code=1)


def checkpoint(corp: AllCorpsOption = None) -> None:
    """Write a checkpoint of each chain's head to the database and the append-only file."""
    context = open_context()
    try:
        context.migrate()
        written = guarded(lambda: checkpoint_corps(context.session_factory, context.settings, corp or None))
    finally:
        context.close()
    for corp_id, checkpoint in written.items():
        if checkpoint is None:
            console.print(f"{corp_id}: no new links since the last checkpoint.")
        else:
            console.print(f"{corp_id}: checkpoint at position {checkpoint.position:,}.")


# --- small helpers -----------------------------------------------------------------------


def _configure_logs(settings: Settings) -> None:
    configure_logging(settings.logging.level, json_output=settings.logging.json_output)


def _corp_ids(context: AppContext, corp: str | None) -> list[str]:
    corp_ids = [corp] if corp else [c.corp_id for c in context.settings.corps()]
    if not corp_ids:
        raise fail("No corp is configured.", "set WECOM_AUDIT_WECOM__CORP_ID or pass --corp")
    return corp_ids


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not an ISO 8601 time", "e.g. 2026-11-01 or 2026-11-01T08:00+08:00") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
