"""``wecom-audit init``, ``config``, ``pull``, ``status``, ``keys``, ``quarantine`` and ``media``:
the archive's own commands, and the scheduler loop that ``pull``, ``run`` and ``demo`` share.
Translates and delegates only."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from api.cli.completeness import status_fields as completeness_fields
from api.cli.completeness import status_lines as completeness_lines
from api.cli.search import status_fields as search_status_fields
from api.cli.search import status_line as search_status_line
from api.cli.support import CorpOption, console, err_console, fail, guarded, open_context, transaction
from api.context import AppContext
from api.scheduler import PullScheduler
from archive import repository
from archive.clock import utcnow
from archive.errors import ArchiveError
from archive.media import tasks as media_tasks
from archive.puller import PullReport
from archive.quarantine import retry_quarantine
from archive.status import ArchiveStatus, collect_status
from audit.accesslog.jobs import checkpoint as checkpoint_access_log
from audit.detect.rules.service import ensure_starter_rules
from config.settings import ConfigError, load_settings

keys_app = typer.Typer(help="Private keys by publickey_ver (key material is never printed).", no_args_is_help=True)
quarantine_app = typer.Typer(help="Records that could not be decrypted, parsed or stored.", no_args_is_help=True)
config_app = typer.Typer(help="Show the effective configuration (secrets masked).", no_args_is_help=True)
media_app = typer.Typer(help="Attachments: downloads through the SDK, md5-verified.", no_args_is_help=True)


# --- init, config -------------------------------------------------------------------------


def init() -> None:
    """Create the data directory and the database schema (safe to run again)."""
    context = open_context()
    context.settings.data_dir.mkdir(parents=True, exist_ok=True)
    context.migrate()
    console.print(f"Database ready: [bold]{context.settings.redacted()['database']['url']}[/]")
    with transaction(context) as session:
        seeded = ensure_starter_rules(session, utcnow(), context.settings.detection.lexicon_data_dir)
    if seeded:
        console.print(f"Loaded {seeded} starter lexicon groups (`wecom-audit lexicon list`; rerunning keeps edits).")
    if context.settings.access_log.mode == "keyed":
        # Creates the key (mode 0600) and anchors the switch-over now, not at the next checkpoint.
        guarded(lambda: checkpoint_access_log(context.session_factory))
        console.print(f"Access log keyed with {context.settings.access_log_key_file} (back it up with the keys).")
    if not context.settings.corps():
        console.print(
            "Next: set WECOM_AUDIT_WECOM__CORP_ID, WECOM_AUDIT_WECOM__ARCHIVE_SECRET and "
            "WECOM_AUDIT_SDK__LIBRARY_PATH, then `wecom-audit keys add --version N private.pem`."
        )
    context.close()


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings as JSON, with every secret masked."""
    console.print_json(json.dumps(load_settings().redacted(), ensure_ascii=False))


# --- pull, status -------------------------------------------------------------------------


def pull(
    once: Annotated[bool, typer.Option("--once", help="Drain once and exit (for scripts and cron).")] = False,
    corp: CorpOption = None,
) -> None:
    """Pull the archive until WeCom has nothing newer. Without --once, keep pulling on the interval."""
    context = open_context()
    if not once:
        run_scheduler(context)
        return
    failed = False
    try:
        corp_ids = [corp] if corp else [c.corp_id for c in context.settings.corps()]
        if not corp_ids:
            raise fail(str(ConfigError("No corp is configured.")), "set WECOM_AUDIT_WECOM__CORP_ID")
        context.migrate()
        for corp_id in corp_ids:
            report = guarded(partial(_pull_once, context, corp_id))
            _print_report(report)
            failed |= report.status == "failed"
    finally:
        context.close()
    if failed:
        raise typer.Exit(code=1)


def _pull_once(context: AppContext, corp_id: str) -> PullReport:
    return context.puller(corp_id).run("manual")


def _print_report(report: PullReport) -> None:
    table = Table(title=f"Pull of {report.corp_id}: {report.status}", show_header=False)
    for label, value in [
        ("seq range", f"{report.from_seq} → {report.to_seq}"),
        ("batches", report.batches),
        ("fetched", report.fetched),
        ("stored", report.stored),
        ("duplicates skipped", report.duplicates),
        ("quarantined", report.quarantined),
        ("unknown types (stored raw)", report.unknown_types),
        ("duration", f"{report.duration_s:.1f} s"),
    ]:
        table.add_row(label, str(value))
    for reason, count in sorted(report.quarantine_reasons.items()):
        table.add_row(f"  quarantined: {reason}", str(count))
    console.print(table)
    if report.error:
        message, _, hint = report.error.partition(" — ")
        err_console.print(f"[bold red]Error:[/] {message}")
        if hint:
            err_console.print(f"[yellow]What to do:[/] {hint}")


def _status_rows(context: AppContext, corp: str | None) -> list[tuple[ArchiveStatus, list[str], dict[str, Any]]]:
    """Each corp's status, its completeness lines (exposure, media, open alerts) and fields."""
    context.migrate()
    now = utcnow()
    with transaction(context) as session:
        corp_ids = (
            [corp]
            if corp
            else sorted({c.corp_id for c in context.settings.corps()} | set(repository.known_corp_ids(session)))
        )
        return [
            (
                collect_status(session, corp_id, now),
                completeness_lines(session, corp_id, now, context.completeness_thresholds),
                completeness_fields(session, corp_id, now),
            )
            for corp_id in corp_ids
        ]


def _status_table(statuses: list[ArchiveStatus]) -> Table:
    table = Table(title="wecom-audit archive status")
    for column in ("corp", "messages", "from seq", "cursor", "newest message", "lag", "quarantine", "last pull"):
        table.add_column(column, justify="right" if column not in ("corp", "last pull") else "left")
    for status in statuses:
        counts, run = status.counts, status.last_run
        newest = counts.newest_msgtime.astimezone().strftime("%Y-%m-%d %H:%M:%S") if counts.newest_msgtime else "—"
        last = "never"
        if run is not None:
            last = f"{run.status} {run.started_at.astimezone():%H:%M:%S} (+{run.stored} stored)"
            if run.error_code:
                last += f" [red]{run.error_code}[/]"
        table.add_row(
            counts.corp_id,
            f"{counts.messages:,}",
            str(counts.first_seq or "—"),
            str(counts.cursor),
            newest,
            _duration(status.lag_s),
            f"{counts.quarantined_open:,}",
            last,
        )
    return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def status(
    corp: CorpOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per corp.")] = False,
) -> None:
    """Messages stored, seq range, lag behind the newest message, quarantine size, last pull,
    media backlog and open completeness alerts."""
    context = open_context()
    try:
        statuses = _status_rows(context, corp)
        with transaction(context) as session:
            search_fields = search_status_fields(session, utcnow())
            search_line = search_status_line(session, utcnow())
    finally:
        context.close()
    if as_json:
        for item, _, completeness in statuses:
            counts = item.counts
            print(
                json.dumps(
                    {
                        "corp_id": counts.corp_id,
                        "messages": counts.messages,
                        "envelopes": counts.envelopes,
                        "first_seq": counts.first_seq,
                        "cursor": counts.cursor,
                        "newest_msgtime": counts.newest_msgtime.isoformat() if counts.newest_msgtime else None,
                        "lag_s": item.lag_s,
                        "quarantined": counts.quarantined_open,
                        "unknown_types": counts.unknown_types,
                        "conversations": counts.conversations,
                        "last_run_status": item.last_run.status if item.last_run else None,
                        **completeness,
                        **search_fields,
                    }
                )
            )
        return
    console.print(_status_table([item for item, _, _ in statuses]))
    for _, lines, _ in statuses:
        for line in lines:
            console.print(line)
    console.print(search_line)


# --- keys ---------------------------------------------------------------------------------


@keys_app.command("add")
def keys_add(
    file: Annotated[Path, typer.Argument(help="PEM private key (PKCS#1 or PKCS#8).", exists=True, dir_okay=False)],
    version: Annotated[int, typer.Option("--version", "-v", help="The publickey_ver WeCom shows for this key.")],
    corp: CorpOption = None,
    passphrase_env: Annotated[
        str | None, typer.Option(help="Name of an environment variable holding the key's passphrase.")
    ] = None,
    replace: Annotated[bool, typer.Option(help="Overwrite a key already registered for this version.")] = False,
) -> None:
    """Register the private key of one publickey_ver (copied into the data directory, mode 0600)."""
    context = open_context()
    corp_id = corp or guarded(lambda: context.settings.corp().corp_id)
    passphrase = os.environ.get(passphrase_env, "").encode() if passphrase_env else None
    material = guarded(lambda: context.key_store.add(corp_id, version, file.read_bytes(), passphrase, replace=replace))
    console.print(
        f"Registered publickey_ver {version} for {corp_id} (fingerprint {material.fingerprint()[:16]}…).\n"
        "Records quarantined for an unknown key version can now be recovered: `wecom-audit quarantine retry`."
    )
    if passphrase:
        console.print(
            f'The file stays encrypted: give the puller its passphrase under "{version}" in '
            "WECOM_AUDIT_WECOM__KEY_PASSPHRASES (or [wecom.key_passphrases] in the TOML file)."
        )


@keys_app.command("list")
def keys_list(corp: CorpOption = None) -> None:
    """Key versions, where they are and their public-key fingerprints."""
    context = open_context()
    corp_id = corp or guarded(lambda: context.settings.corp().corp_id)
    keyring = guarded(lambda: context.keyring(corp_id))
    table = Table(title=f"Private keys of {corp_id}")
    for column in ("publickey_ver", "file", "public key SHA-256"):
        table.add_column(column)
    for material in keyring.materials():
        try:
            fingerprint = material.fingerprint()
        except ArchiveError as exc:
            fingerprint = f"[red]unreadable: {exc}[/]"
        table.add_row(str(material.version), material.source, fingerprint)
    if not keyring.versions():
        console.print("No keys registered. Add one with `wecom-audit keys add --version N private.pem`.")
        return
    console.print(table)


# --- quarantine ---------------------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(
    corp: CorpOption = None,
    include_resolved: Annotated[bool, typer.Option("--all", help="Include recovered records.")] = False,
    limit: int = 100,
) -> None:
    """Quarantined records with seq, key version and why (never content)."""
    context = open_context()
    corp_id = corp or guarded(lambda: context.settings.corp().corp_id)
    context.migrate()
    with transaction(context) as session:
        rows = repository.list_quarantine(session, corp_id, include_resolved=include_resolved, limit=limit)
    if not rows:
        console.print("Quarantine is empty.")
        return
    table = Table(title=f"Quarantine of {corp_id}")
    for column in ("seq", "msgid", "key ver", "reason", "attempts", "resolved", "detail"):
        table.add_column(column)
    for row in rows:
        resolved = row.resolved_at.astimezone().strftime("%Y-%m-%d %H:%M") if row.resolved_at else ""
        table.add_row(
            str(row.seq), row.msgid, str(row.publickey_ver), row.reason, str(row.attempts), resolved, row.detail
        )
    console.print(table)


@quarantine_app.command("retry")
def quarantine_retry(corp: CorpOption = None) -> None:
    """Decrypt and store quarantined records again from their stored envelopes (after `keys add`)."""
    context = open_context()
    try:
        corp_id = corp or guarded(lambda: context.settings.corp().corp_id)
        context.migrate()
        report = guarded(lambda: retry_quarantine(corp_id, context.source(corp_id), context.session_factory))
    finally:
        context.close()
    console.print(f"Retried {report.attempted} records: {report.recovered} recovered.")
    for reason, count in sorted(report.still_failing.items()):
        console.print(f"  still failing: {count} × {reason}")


# --- media --------------------------------------------------------------------------------


@media_app.command("fetch")
def media_fetch(corp: CorpOption = None) -> None:
    """Download every due attachment now (oldest message first) and print the outcome."""
    context = open_context()
    try:
        corp_id = corp or guarded(lambda: context.settings.corp().corp_id)
        context.migrate()
        report = guarded(lambda: context.media_downloader(corp_id).run())
        with transaction(context) as session:
            counts = media_tasks.count_by_status(session, corp_id)
    finally:
        context.close()
    console.print(
        f"Downloaded {report.downloaded} files ({report.bytes / 1e6:.1f} MB), "
        f"{report.failed} failed, {report.md5_retries} md5 retries."
    )
    for reason, count in sorted(report.failures.items()):
        console.print(f"  failed: {count} × {reason}")
    console.print("Tasks: " + ", ".join(f"{status} {count:,}" for status, count in sorted(counts.items())))


# --- the scheduler (`pull` without --once, `run`, `demo`) ---------------------------------


def run_scheduler(
    context: AppContext,
    *,
    show: bool = False,
    duration_s: float | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    if not context.settings.corps():
        raise fail("No corp is configured.", "set WECOM_AUDIT_WECOM__CORP_ID (or run `wecom-audit demo`)")
    context.migrate()
    scheduler = PullScheduler(context)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.start()
    console.print(
        f"Pulling {', '.join(c.corp_id for c in context.settings.corps())} every "
        f"{scheduler.interval_s:g} s. Ctrl-C to stop."
    )
    if on_started is not None:
        on_started()
    deadline = time.monotonic() + duration_s if duration_s else None
    try:
        if show:
            with Live(console=console, refresh_per_second=2) as live:
                while not stop.wait(1.0) and (deadline is None or time.monotonic() < deadline):
                    live.update(_live_view(context))
        else:
            while not stop.wait(1.0) and (deadline is None or time.monotonic() < deadline):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        console.print("Stopping…")
        scheduler.shutdown()


def _live_view(context: AppContext) -> Group:
    with transaction(context) as session:
        statuses = [collect_status(session, c.corp_id, datetime.now(UTC)) for c in context.settings.corps()]
    return Group(
        _status_table(statuses), Panel("Ctrl-C stops. In another terminal: `wecom-audit status`.", expand=False)
    )
