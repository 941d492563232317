"""A populated archive with one user per role, for the API's security tests.

The expectations (which conversation is in whose scope) are computed here from the
simulator's company and the stored rows, independently of ``audit.security.scope``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import AppContext
from archive.clock import utcnow
from archive.directory.service import sync_directory
from archive.media.models import MediaTask
from archive.models import Conversation, Message, MessageRecipient
from archive.simulator.directory_feed import directory_of
from audit.alerts.service import raise_alert
from audit.detect.hits import Severity
from audit.security import scope as scopes
from audit.security import service as security
from audit.security.principal import Principal
from audit.stage import DetectionStage
from config.database import session_scope
from config.settings import CallbackSettings
from search.jobs import index_tick
from tests.clock import weekday_afternoon_before
from tests.conftest import Edge

PASSWORD = "correct horse battery staple"
CALLBACK_TOKEN = "QDG6eK"
CALLBACK_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
PURPOSE = "case-2026-042"
# The rule of the two alerts the world raises itself (no matches, so no evidence excerpts).
TEST_RULE = "test.rule"
ROLES = ("admin", "compliance_officer", "reviewer", "manager", "auditor")


@dataclass
class World:
    edge: Edge
    context: AppContext
    department_id: int
    in_conversation: int
    out_conversation: int
    in_message: int
    out_message: int
    # (message id, media task id) of downloaded attachments, when the media job got any.
    in_media: tuple[int, int] | None
    out_media: tuple[int, int] | None
    # Conversations the reviewer's department subtree reaches.
    reviewer_conversations: set[int] = field(default_factory=set)
    # Alerts raised on the in- and out-of-scope conversations.
    in_alert: int = 0
    out_alert: int = 0
    # Handover cases of a member inside and one outside the scope (``handover_probes.prepare``).
    handover_in_case: int = 0
    handover_out_case: int = 0
    handover_in_member: str = ""
    handover_out_member: str = ""
    secrets_seen: list[str] = field(default_factory=list, repr=False)
    message_texts: list[str] = field(default_factory=list, repr=False)


def _subtree(parents: dict[int, int | None], root: int) -> set[int]:
    found, changed = {root}, True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in found and child not in found:
                found.add(child)
                changed = True
    return found


def build_world(edge: Edge, *, messages: int = 300, media: bool = True) -> World:
    edge.settings.callback = CallbackSettings(
        token=SecretStr(CALLBACK_TOKEN), encoding_aes_key=SecretStr(CALLBACK_AES_KEY), debounce_s=3600
    )
    # The chats end on a recent weekday afternoon: at night the simulated company would date
    # most of them after "now" (its office hours push them forward), and what the tests pick
    # from them would change with the hour the suite runs.
    end = weekday_afternoon_before(datetime.now(UTC))
    edge.simulator.populate(messages, end_ms=int(end.timestamp() * 1000), messages_per_day=20_000, stop_at_end=True)
    edge.register_keys()
    context = edge.context()
    corp_id = edge.simulator.corp_id
    assert context.puller(corp_id).run().status == "completed"
    if media:
        # No time budget: a slow runner must still get every attachment (the run ends when
        # none is due; each task is tried once).
        context.media_downloader(corp_id).run()
    company = edge.simulator.company
    departments, members = directory_of(company)
    with session_scope(context.session_factory) as session:
        sync_directory(session, corp_id, departments, members, utcnow())
    # store → detect → index, as the scheduler runs them: detection passes every message on
    # to the indexer. After the directory: documents carry their staff's departments as of
    # indexing.
    DetectionStage(edge.settings.detection, edge.settings.alerts).run(context.session_factory, max_claims=1000)
    index_tick(context.session_factory, context.search_backend, batch=2000, budget_s=60)
    parents = {d.id: d.parent_id for d in company.departments}
    department_of = {e.userid: e.department_id for e in company.employees}

    with session_scope(context.session_factory) as session:
        participants: dict[int, set[str]] = {}
        for conversation in session.execute(select(Conversation)).scalars():
            participants[conversation.id] = {p for p in (conversation.participant_a, conversation.participant_b) if p}
        for conversation_id, sender in session.execute(select(Message.conversation_id, Message.sender)):
            if conversation_id is not None:
                participants[conversation_id].add(sender)
        for conversation_id, recipient in session.execute(
            select(Message.conversation_id, MessageRecipient.recipient).join(
                MessageRecipient, MessageRecipient.message_id == Message.id
            )
        ):
            if conversation_id is not None:
                participants[conversation_id].add(recipient)
        first_message = {
            conversation_id: message_id
            for message_id, conversation_id in session.execute(
                select(Message.id, Message.conversation_id).order_by(Message.id.desc())
            )
        }
        done_media = {
            conversation_id: (message_id, task_id)
            for task_id, message_id, conversation_id in session.execute(
                select(MediaTask.id, Message.id, Message.conversation_id)
                .join(Message, Message.id == MediaTask.message_id)
                .where(MediaTask.status == "done")
            )
        }
        # The department that splits the conversations into in and out of scope: the smallest
        # one with a downloaded attachment on both sides, else on the inside, else any. The
        # simulated chats change with the start time, so a fixed choice would sometimes leave
        # the media route unchecked.
        splits: list[tuple[int, list[int], list[int]]] = []
        for dept in sorted(parents, key=lambda d: len(_subtree(parents, d))):
            members_in = {u for u, d in department_of.items() if d in _subtree(parents, dept)}
            inside = [c for c, people in participants.items() if people & members_in and c in first_message]
            outside = [c for c, people in participants.items() if not people & members_in and c in first_message]
            if inside and outside:
                splits.append((dept, inside, outside))
        assert splits, "the simulated company gave no department that splits the conversations"

        def media_on(conversations: list[int]) -> bool:
            return any(c in done_media for c in conversations)

        dept, inside, outside = next(
            (s for s in splits if media_on(s[1]) and media_on(s[2])),
            next((s for s in splits if media_on(s[1])), splits[0]),
        )
        # Within the split, prefer a conversation with downloaded media and then one long enough
        # for time-range tests (two messages or more); max() keeps the first of equals.
        sizes = Counter(session.execute(select(Message.conversation_id)).scalars())
        in_c = max(inside, key=lambda c: (c in done_media, sizes[c] >= 2))
        out_c = max(outside, key=lambda c: (c in done_media, sizes[c] >= 2))
        world = World(
            edge,
            context,
            dept,
            in_c,
            out_c,
            first_message[in_c],
            first_message[out_c],
            done_media.get(in_c),
            done_media.get(out_c),
            reviewer_conversations=set(inside),
        )
        world.message_texts = [
            text for text in session.execute(select(Message.text).where(Message.text.is_not(None))).scalars() if text
        ]

    with session_scope(context.session_factory) as session:
        operator = security.cli_principal("cli:test")
        for role in ROLES:
            security.create_user(
                session,
                operator,
                username=role,
                password=PASSWORD,
                role=role,
                scope_all=role == "compliance_officer",
                departments=[(corp_id, world.department_id)] if role == "reviewer" else [],
                now=utcnow(),
            )
        for which in ("in", "out"):
            alert = raise_alert(
                session,
                corp_id=corp_id,
                conversation_id=getattr(world, f"{which}_conversation"),
                rule=TEST_RULE,
                category="test",
                severity=Severity.HIGH,
                source="detect",
                explanation={"matches": []},
                message_ids=[getattr(world, f"{which}_message")],
                now=utcnow(),
            )
            session.flush()
            setattr(world, f"{which}_alert", alert.id)
        manager = security.get_user(session, "manager")
        scopes.grant_conversations(session, manager.id, [world.in_conversation], "handover of a leaver", "cli:test")
    return world


def signed_in(session: Session, username: str) -> Principal:
    """``username``'s own principal after a password sign-in: a token that reads content is
    created by its owner only."""
    result = security.login(session, username, PASSWORD, client="tests", policy=security.AuthPolicy(), now=utcnow())
    assert result.session is not None, result.error
    return result.session.principal


def officer_token(world: World, permissions: list[str], *, days: int = 30) -> str:
    with session_scope(world.context.session_factory) as session:
        _, secret = security.create_token(
            session,
            signed_in(session, "compliance_officer"),
            username="compliance_officer",
            name="integration",
            permissions=permissions,
            ttl=timedelta(days=days),
            now=utcnow(),
        )
    world.secrets_seen.append(secret)
    return secret
