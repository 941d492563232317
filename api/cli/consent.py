"""``wecom-audit consent …``: the consent ledger (同意会话存档) from the command line.

- ``show``: a customer's or a group's consent, per member/group, with history. Consent is
  content-adjacent: it needs ``--purpose`` and is written to the access log as
  ``cli:<os user>`` acting as a compliance officer (company-wide scope: whoever runs it on
  the server can read the configuration and the database anyway).
- ``check``: run the ledger's job now — new agree/disagree messages, then WeCom's check APIs
  with the 会话内容存档 secret (``--all`` asks again about every pair and room).

``--json`` of ``show`` has the shape of ``GET /api/v1/consent``: both convert a record with
``api.routes.consent.record_out``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import msgspec
import typer
from rich.markup import escape
from rich.table import Table

from api.cli.support import CorpOption, console, fail, guarded, open_context, operator_principal, transaction
from api.context import AppContext
from api.routes.consent import record_out
from archive.clock import utcnow
from archive.consent.jobs import limits_from_settings, run_corp
from archive.consent.service import CheckReport, ConsentRecord, MessagePassReport
from audit.access.gate import clean_purpose
from audit.events.consent import company_wide_ledger
from audit.security.roles import Role

app = typer.Typer(help="Customers' consent to archiving (同意会话存档).", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object.")]
STATE_LABELS = {
    "agreed": "[green]已同意 agreed[/]",
    "disagreed": "[red]未同意 disagreed[/]",
    "unknown": "[yellow]未知 unknown[/]",
}


@app.command("show")
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
        corp_id, records = guarded(lambda: _ledger(context, purpose, corp, customer, room))
    finally:
        context.close()
    if as_json:
        document = {
            "corp_id": corp_id,
            "customer": customer,
            "room": room,
            "records": [_record_json(record) for record in records],
        }
        print(json.dumps(document, ensure_ascii=False))
        return
    _print(records, customer or room or "")


def _ledger(
    context: AppContext, purpose: str, corp: str | None, customer: str | None, room: str | None
) -> tuple[str, list[ConsentRecord]]:
    """The corp in question and its records, read as the compliance officer ``cli:<os user>``
    (one access-log row)."""
    given = clean_purpose(purpose)
    if not given:
        raise fail("A purpose is required.", "give the case reference or reason with --purpose")
    corp_id = context.settings.corp(corp).corp_id
    context.migrate()
    officer = operator_principal(Role.COMPLIANCE_OFFICER)
    with transaction(context) as session:
        records = company_wide_ledger(session, officer, given, corp_id, customer=customer, room=room, now=utcnow())
    return corp_id, records


@app.command("check")
def check(
    corp: CorpOption = None,
    everything: Annotated[bool, typer.Option("--all", help="Ask again about every pair and room.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Read new agree/disagree messages, then ask WeCom about the pairs and rooms due."""
    context = open_context()
    try:
        messages, checks = guarded(lambda: _checked(context, corp, everything))
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


def _checked(context: AppContext, corp: str | None, everything: bool) -> tuple[MessagePassReport, CheckReport]:
    corp_settings = context.settings.corp(corp)
    context.migrate()
    limits = limits_from_settings(context.settings.consent, everything=everything)
    return asyncio.run(run_corp(context.session_factory, corp_settings, utcnow(), limits))


def _record_json(record: ConsentRecord) -> dict[str, Any]:
    """A record as ``GET /api/v1/consent`` shows it, times in ISO 8601 (``datetime.isoformat``)."""
    out: dict[str, Any] = _plain(msgspec.to_builtins(record_out(record), builtin_types=(datetime,)))
    return out


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
