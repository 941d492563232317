"""Shared steps of the retention tests: pull simulated history, sync the directory, run
disposition on a controlled clock, and compute expectations independently of the code
under test (from the simulator's own record of what it sent)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from archive.directory.service import sync_directory
from archive.integrity.checkpoints import checkpoint_path
from archive.integrity.verify import VerifyReport, verify
from archive.media.blobstore import BlobStore
from archive.messages import is_external_id
from archive.models import ChatEnvelopeRow, Conversation, Message, MessageRecipient
from archive.retention.disposition import DispositionReport, dispose
from archive.retention.service import Actor, RetentionService
from archive.simulator.company import Company
from archive.simulator.conversations import GeneratedMessage
from archive.simulator.directory_feed import directory_of
from config.database import session_scope
from tests.conftest import Edge

DAY = timedelta(days=1)
# The disposition clock: "now" for every test. Fixed, so the simulated history is the same
# in every run (the simulator seeds from its start time); WeCom's own retention window is
# widened in pull_history so that history is still served.
NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
HISTORY_DAYS = 60
ADMIN = Actor("compliance-admin", is_admin=True)
OFFICER = Actor("compliance-officer", is_admin=False)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def pull_history(edge: Edge, messages: int = 1200, *, days: int = HISTORY_DAYS) -> list[GeneratedMessage]:
    """``messages`` messages spread over the ``days`` days before NOW, pulled through the real
    puller, with the directory synced from the simulated company."""
    sent: list[GeneratedMessage] = []
    edge.server.retention_s = 10 * 365 * 86_400  # WeCom would have dropped most of it: store it as if pulled in time
    edge.simulator.populate(messages, messages_per_day=messages // days, end_ms=ms(NOW - DAY), record=sent)
    edge.register_keys()
    context = edge.context()
    report = context.puller(edge.simulator.corp_id).run()
    context.close()
    assert report.status == "completed", report.error
    sync_company_directory(edge)
    return sent


def sync_company_directory(edge: Edge) -> None:
    departments, members = directory_of(edge.simulator.company)
    with session_scope(edge.database.sessions) as session:
        sync_directory(session, edge.simulator.corp_id, departments, members, NOW)


@contextmanager
def retention(edge: Edge) -> Iterator[RetentionService]:
    """The corp's retention service in one committed transaction."""
    with session_scope(edge.database.sessions) as session:
        yield RetentionService(session, edge.simulator.corp_id, clock=lambda: NOW)


def run_disposition(
    edge: Edge, *, now: datetime = NOW, blob_store: BlobStore | None = None, **options: Any
) -> DispositionReport:
    return dispose(
        edge.database.sessions,
        edge.simulator.corp_id,
        blob_store=blob_store,
        clock=lambda: now,
        **options,
    )


def run_verify(edge: Edge) -> VerifyReport:
    corp_id = edge.simulator.corp_id
    return verify(edge.database.sessions, corp_id, checkpoint_file=checkpoint_path(edge.settings, corp_id))


def stored_msgids(edge: Edge) -> set[str]:
    with edge.database.sessions() as session:
        return set(session.scalars(select(Message.msgid).where(Message.corp_id == edge.simulator.corp_id)))


@dataclass(frozen=True)
class RowCounts:
    messages: int
    envelopes: int
    recipients: int
    conversation_total: int  # the sum of conversations' message_count
    messages_in_conversations: int


def row_counts(edge: Edge) -> RowCounts:
    with edge.database.sessions() as session:
        return RowCounts(
            messages=session.scalar(select(func.count()).select_from(Message)) or 0,
            envelopes=session.scalar(select(func.count()).select_from(ChatEnvelopeRow)) or 0,
            recipients=session.scalar(select(func.count()).select_from(MessageRecipient)) or 0,
            conversation_total=session.scalar(select(func.coalesce(func.sum(Conversation.message_count), 0))) or 0,
            messages_in_conversations=session.scalar(
                select(func.count()).select_from(Message).where(Message.conversation_id.is_not(None))
            )
            or 0,
        )


# --- expectations computed from what the simulator sent ---------------------------------------


@dataclass(frozen=True)
class Sent:
    """A sent message as the tests see it (from the simulator's plaintext)."""

    msgid: str
    msgtime: datetime
    sender: str
    recipients: frozenset[str]
    roomid: str

    @property
    def participants(self) -> frozenset[str]:
        return self.recipients | {self.sender}

    def chat_type(self) -> str | None:
        if self.roomid:
            return "group"
        people = self.participants - {""}
        if len(people) != 2:
            return None
        return "single_external" if any(is_external_id(p) for p in people) else "single_internal"

    def departments(self, company: Company) -> set[int]:
        return {company.employee(p).department_id for p in self.participants if company.is_employee(p)}


def sent_messages(generated: list[GeneratedMessage]) -> list[Sent]:
    result = []
    for message in generated:
        plain = message.plaintext
        if plain.get("action") == "switch":
            result.append(Sent(message.msgid, _at(message.msgtime_ms), str(plain["user"]), frozenset(), ""))
            continue
        tolist = plain.get("tolist") or []
        assert isinstance(tolist, list)
        result.append(
            Sent(
                message.msgid,
                _at(message.msgtime_ms),
                str(plain["from"]),
                frozenset(str(t) for t in tolist),
                str(plain.get("roomid") or ""),
            )
        )
    return result


def _at(msgtime_ms: int) -> datetime:
    return datetime.fromtimestamp(msgtime_ms / 1000, UTC)


def older_than(sent: list[Sent], days: int, now: datetime = NOW) -> set[str]:
    return {m.msgid for m in sent if m.msgtime < now - timedelta(days=days)}
