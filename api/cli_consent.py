"""``wecom-audit consent …``: the consent ledger (同意会话存档) from the command line.

- ``show``: a customer's or a group's consent, per member/group, with history. Consent is
  content-adjacent: it needs ``--purpose`` and is written to the access log as
  ``cli:<os user>`` (company-wide scope: whoever runs it on the server can read the
  configuration and the database anyway).
- ``check``: run the ledger's job now — new agree/disagree messages, then WeCom's check APIs
  with the 会话内容存档 secret (``--all`` asks again about every pair and room).
"""

from __future__ import annotations

import asyncio
import getpass
import json
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.cli_support import fail, open_context
from api.routes.consent import record_out, scoped_ledger
from archive.clock import utcnow
from archive.consent.jobs import ConsentCheckLimits, run_corp
from archive.consent.service import ConsentRecord
from archive.errors import ArchiveError
from audit.access.gate import AccessGate, clean_purpose
from audit.accesslog import log as access_log
from audit.security.errors import SecurityError
from audit.security.principal import Principal
from audit.security.roles import ROLE_PERMISSIONS, Role
from audit.security.scope import DataScope
from config.database import session_scope
from config.settings import ConfigError

console = Console()
consent_app = typer.Typer(help="Customers' consent to archiving (同意会话存档).", no_args_is_help=True)
CorpOption = Annotated[str | None, typer.Option("--corp", help="Corp id (default: the configured one).")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object.")]
STATE_LABELS = {
    "agreed": "[green]已同意 agreed[/]",
    "disagreed": "[red]未同意 disagreed[/]",
    "unknown": "[yellow]未知 unknown[/]",
}
EVERYTHING = DataScope(True, frozenset(), frozenset(), frozenset(), frozenset())


def register(app: typer.Typer) -> None:
    app.add_typer(consent_app, name="consent")


def _cli_officer() -> Principal:
    try:
        operator = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        operator = "cli"
    role = Role.COMPLIANCE_OFFICER
    return Principal(0, operator[:64], role, ROLE_PERMISSIONS[role], "cli")


@consent_app.command("show")
def show(
    purpose: Annotated[str, typer.Option(help="Case reference or reason (written to the access log).")],
    customer: Annotated[str | None, typer.Option(help="The customer's external_userid.")] = None,
    room: Annotated[str | None, typer.Option(help="A customer group's roomid.")] = None,
    corp: CorpOption = None,
    as_json: JsonOption = False,
) -> None:
    """A customer's (or a group's) consent: 已同意/未同意/未知 since when, with history."""
    if (customer is None) == (room is None):
        raise fail("Name one customer or one room.", "use --customer <external_userid> or --room <roomid>")
    context = open_context()
    try:
        given = clean_purpose(purpose)
        if not given:
            raise fail("A purpose is required.", "give the case reference or reason with --purpose")
        corp_id = context.settings.corp(corp).corp_id
        context.migrate()
        now = utcnow()
        with session_scope(context.session_factory) as session:
            if session.get_bind().dialect.name == "sqlite":
                access_log.lock_head(session, now)  # as the access gate does before a read
            gate = AccessGate(session, _cli_officer(), EVERYTHING, given, now)
            records = scoped_ledger(gate, corp_id, customer=customer, room=room)
    except (SecurityError, ArchiveError) as exc:
        raise fail(str(exc).split(" — ")[0], getattr(exc, "hint", "")) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None
    finally:
        context.close()
    if as_json:
        document = {
            "corp_id": corp_id,
            "customer": customer,
            "room": room,
            "records": [_plain(asdict_out(record)) for record in records],
        }
        print(json.dumps(document, ensure_ascii=False))
        return
    _print(records, customer or room or "")


@consent_app.command("check")
def check(
    corp: CorpOption = None,
    everything: Annotated[bool, typer.Option("--all", help="Ask again about every pair and room.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Read new agree/disagree messages, then ask WeCom about the pairs and rooms due."""
    context = open_context()
    try:
        corp_settings = context.settings.corp(corp)
        context.migrate()
        settings = context.settings.consent
        limits = ConsentCheckLimits(
            timedelta(0) if everything else timedelta(hours=settings.recheck_after_h),
            settings.max_pairs_per_run,
            settings.max_rooms_per_run,
        )
        messages, checks = asyncio.run(run_corp(context.session_factory, corp_settings, utcnow(), limits))
    except ArchiveError as exc:
        raise fail(str(exc).split(" — ")[0], exc.hint) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None
    finally:
        context.close()
    if as_json:
        print(json.dumps({"messages": asdict(messages), "checks": asdict(checks)}, ensure_ascii=False))
        return
    console.print(
        f"{messages.corp_id}: {messages.read} agree/disagree messages read, {messages.recorded} new observations, "
        f"{len(messages.unresolved)} without a member/customer pair"
    )
    console.print(
        f"{checks.corp_id}: asked WeCom about {checks.pairs_checked} pairs and {checks.rooms_checked} groups: "
        f"{checks.recorded} new observations, {checks.not_found} pairs unknown to WeCom (301061), "
        f"{checks.unanswered} unanswered, {checks.refused_rooms} groups refused"
    )


def asdict_out(record: ConsentRecord) -> dict[str, Any]:
    out = record_out(record)
    return {
        "scope": out.scope,
        "member": out.member,
        "roomid": out.roomid,
        "external_userid": out.external_userid,
        "status": out.status,
        "state": out.state,
        "since": out.since,
        "source": out.source,
        "history": [
            {"changed_at": e.changed_at, "status": e.status, "state": e.state, "source": e.source, "msgid": e.msgid}
            for e in out.history
        ],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _print(records: list[ConsentRecord], subject: str) -> None:
    if not records:
        console.print(
            f"No consent recorded for {escape(subject)} (in the archive or from WeCom's checks): 未知 unknown."
        )
        return
    for record in records:
        who = f"member {record.party}" if record.scope == "single" else f"group {record.party}"
        label = STATE_LABELS[record.state.value]
        table = Table(
            title=f"{escape(record.external_userid)} with {escape(who)}: {label} since {_local(record.since)}"
        )
        for column in ("changed at", "status", "source", "msgid"):
            table.add_column(column)
        for entry in record.history:
            table.add_row(_local(entry.changed_at), escape(entry.status), entry.source, escape(entry.msgid or ""))
        console.print(table)


def _local(moment: datetime) -> str:
    return f"{moment.astimezone():%Y-%m-%d %H:%M:%S}"
