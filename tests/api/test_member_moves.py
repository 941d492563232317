"""Issue 14, acceptance: a member moves department and every scoped view follows them at once.

A sync moves a member from their department to another (the way WeCom's directory sync
does), with no reindex after it. The old department's reviewer then sees none of the
conversations only that member took part in for them: search (also their text), alerts,
exports, monitoring and handover; the new department's reviewer sees all of them. On
SQLite and PostgreSQL, with the embedded index and with Elasticsearch (ADR 0021).
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from archive.clock import utcnow
from archive.directory.service import MemberRecord, sync_directory
from archive.models import Conversation, Message, MessageRecipient
from archive.simulator.directory_feed import directory_of
from audit.alerts.service import raise_alert
from audit.detect.hits import Severity
from audit.handover.models import CaseKind, CaseStatus, HandoverCase
from audit.security import service as security
from config.database import session_scope
from config.settings import SearchSettings
from tests.api.world import PASSWORD, PURPOSE, World, build_world
from tests.conftest import Edge

READERS = ("old_reviewer", "new_reviewer")
MANAGERS = ("old_manager", "new_manager")


@dataclass
class Move:
    world: World
    member: str
    member_name: str
    old_department: int
    new_department: int
    # Conversations of the member with nobody else of the old department and nobody of the
    # new one: the old reviewer loses exactly these, the new reviewer gains them.
    moved: set[int]
    moved_texts: list[str]
    group: int | None  # a group conversation among ``moved``, if the member has one
    alert: int
    case: int


def _subtree(parents: dict[int, int | None], root: int) -> set[int]:
    found, changed = {root}, True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in found and child not in found:
                found.add(child)
                changed = True
    return found


def _ancestors(parents: dict[int, int | None], dept: int) -> set[int]:
    found: set[int] = set()
    parent = parents.get(dept)
    while parent is not None and parent not in found:
        found.add(parent)
        parent = parents.get(parent)
    return found


@pytest.fixture(params=["embedded", "elasticsearch"])
def move(request: pytest.FixtureRequest, edge: Edge) -> Move:
    if request.param == "elasticsearch":
        url = request.getfixturevalue("elasticsearch_url")
        edge.settings.search = SearchSettings(
            backend="elasticsearch", es_urls=[url], es_index_prefix=f"moves-{uuid.uuid4().hex[:10]}"
        )
    world = build_world(edge, media=False)
    company, corp_id = edge.simulator.company, edge.simulator.corp_id
    parents = {d.id: d.parent_id for d in company.departments}
    department_of = {e.userid: e.department_id for e in company.employees}
    names = [e.name for e in company.employees]

    # Who took part in each conversation, from the stored rows (independently of the gate).
    with session_scope(world.context.session_factory) as session:
        people: dict[int, set[str]] = {}
        kinds: dict[int, str] = {}
        for conversation in session.execute(select(Conversation)).scalars():
            people[conversation.id] = {p for p in (conversation.participant_a, conversation.participant_b) if p}
            kinds[conversation.id] = conversation.kind
        for conversation_id, sender in session.execute(select(Message.conversation_id, Message.sender)):
            if conversation_id is not None:
                people[conversation_id].add(sender)
        for conversation_id, recipient in session.execute(
            select(Message.conversation_id, MessageRecipient.recipient).join(
                MessageRecipient, MessageRecipient.message_id == Message.id
            )
        ):
            if conversation_id is not None:
                people[conversation_id].add(recipient)

    def members_of(dept: int) -> set[str]:
        return {u for u, d in department_of.items() if d in _subtree(parents, dept)}

    best: tuple[tuple[bool, int], str, int, int, set[int]] | None = None
    for member, old in sorted(department_of.items()):
        old_members = members_of(old)
        for new in sorted(parents):
            if new in _subtree(parents, old) | _ancestors(parents, old):
                continue
            new_members = members_of(new)
            if not new_members:
                continue
            moved = {
                c
                for c, who in people.items()
                if member in who and who & old_members == {member} and not who & new_members
            }
            # Prefer a member with a group among the moved conversations (monitoring), then more.
            rank = (any(kinds[c] == "group" for c in moved), len(moved))
            if best is None or rank > best[0]:
                best = (rank, member, old, new, moved)
    assert best is not None and best[0][1] >= 2, "the simulated company gave no member to move"
    _, member, old, new, moved = best
    groups = sorted(c for c in moved if kinds[c] == "group")

    with session_scope(world.context.session_factory) as session:
        texts = [
            text
            for text in session.execute(
                select(Message.text).where(Message.conversation_id.in_(moved), Message.text.is_not(None))
            ).scalars()
            if text and len(text) >= 6
        ]
        operator = security.cli_principal("cli:test")
        for username, role, dept in [
            ("old_reviewer", "reviewer", old),
            ("new_reviewer", "reviewer", new),
            ("old_manager", "manager", old),
            ("new_manager", "manager", new),
        ]:
            security.create_user(
                session,
                operator,
                username=username,
                password=PASSWORD,
                role=role,
                scope_all=False,
                departments=[(corp_id, dept)],
                now=utcnow(),
            )
        target = min(moved)
        alert = raise_alert(
            session,
            corp_id=corp_id,
            conversation_id=target,
            rule="test.move",
            category="test",
            severity=Severity.HIGH,
            source="detect",
            explanation={"matches": []},
            message_ids=[],
            now=utcnow(),
        )
        now = utcnow()
        case = HandoverCase(
            corp_id=corp_id,
            kind=CaseKind.ONJOB,
            handover_userid=member,
            handover_name=member,
            department_ids=[old],  # where the member was when the case was opened
            dimission_at=None,
            status=CaseStatus.OPEN,
            source="manager",
            opened_by="old_manager",
            opened_at=now,
            inventoried_at=now,
        )
        session.add(case)
        session.flush()
        alert_id, case_id = alert.id, case.id
    name = next(e.name for e in company.employees if e.userid == member)
    return Move(
        world,
        member,
        name if names.count(name) == 1 else member,
        old,
        new,
        moved,
        texts,
        groups[0] if groups else None,
        alert_id,
        case_id,
    )


def sign_in(client: TestClient[Any], username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"], "X-Access-Purpose": PURPOSE}


def searched(client: TestClient[Any], headers: dict[str, str], q: str) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"q": q, "limit": "500", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/search", params=params, headers=headers)
        assert page.status_code == 200, page.text
        hits += page.json()["hits"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return hits


def exported(client: TestClient[Any], headers: dict[str, str], selection: dict[str, Any]) -> tuple[int, set[str]]:
    response = client.post("/api/v1/exports", json=selection, headers=headers)
    if response.status_code != 200:
        return response.status_code, set()
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return 200, {json.loads(line)["msgid"] for line in archive.read("messages.jsonl").splitlines()}


@dataclass
class Seen:
    """What one reader sees of the moved conversations, view by view."""

    search: set[int]
    text_search: set[int]
    alerts: bool
    export_query: set[int]
    export_conversation: int
    group_series: int | None
    cases: bool


def seen_by(move: Move, username: str, manager: str) -> Seen:
    app = create_app(move.world.context)
    with session_scope(move.world.context.session_factory) as session:
        rows = session.execute(
            select(Message.msgid, Message.conversation_id).where(Message.conversation_id.in_(move.moved))
        )
        conversation_of = {msgid: conversation_id for msgid, conversation_id in rows if conversation_id is not None}
    text = move.moved_texts[0]
    with TestClient(app=app) as client:
        headers = sign_in(client, username)
        search = {hit["conversation_id"] for hit in searched(client, headers, "")} & move.moved
        text_search = {hit["conversation_id"] for hit in searched(client, headers, f'"{text}"')} & move.moved
        alerts = client.get("/api/v1/alerts", params={"limit": "200"}, headers=headers)
        assert alerts.status_code == 200, alerts.text
        alert_seen = move.alert in {item["id"] for item in alerts.json()["items"]}
        _, query_ids = exported(client, headers, {"query": ""})
        export_query = {conversation_of[msgid] for msgid in query_ids if msgid in conversation_of}
        status, _ = exported(client, headers, {"conversation_id": min(move.moved)})
        group_series = None
        if move.group is not None:
            group_series = client.get(f"/api/v1/monitor/groups/{move.group}/series", headers=headers).status_code
    with TestClient(app=app) as client:
        headers = sign_in(client, manager)
        cases = client.get("/api/v1/handover/cases", headers=headers)
        assert cases.status_code == 200, cases.text
        case_seen = move.case in {item["id"] for item in cases.json()["items"]}
    return Seen(search, text_search, alert_seen, export_query, status, group_series, case_seen)


def test_a_member_who_moves_takes_their_conversations_to_the_new_department(move: Move) -> None:
    assert move.group is not None, "the moved member takes part in a group: monitoring is checked too"
    before_old = seen_by(move, "old_reviewer", "old_manager")
    before_new = seen_by(move, "new_reviewer", "new_manager")
    assert before_old.group_series == 200 and before_new.group_series == 403
    assert before_old.search == move.moved and before_old.export_query == move.moved
    assert before_old.alerts and before_old.cases and before_old.export_conversation == 200
    assert before_new.search == set() and not before_new.alerts and before_new.export_conversation == 403

    world = move.world
    departments, members = directory_of(world.edge.simulator.company)
    moved_members = [
        MemberRecord(m.userid, m.name, (move.new_department,)) if m.userid == move.member else m for m in members
    ]
    with session_scope(world.context.session_factory) as session:
        report = sync_directory(session, world.edge.simulator.corp_id, departments, moved_members, utcnow())
    assert report.memberships_changed == 1
    # No reindex: the documents still say the old department.

    old = seen_by(move, "old_reviewer", "old_manager")
    assert old.search == set() and old.text_search == set()
    assert not old.alerts
    assert old.export_query == set() and old.export_conversation == 403
    assert old.group_series == 403
    assert not old.cases

    new = seen_by(move, "new_reviewer", "new_manager")
    assert new.search == move.moved
    assert new.text_search  # the message the text came from, at least
    assert new.alerts
    assert new.export_query == move.moved and new.export_conversation == 200
    assert new.group_series == 200
    assert new.cases

    # Part A in the same world: the member's name finds their messages for the new reviewer.
    with TestClient(app=create_app(world.context)) as client:
        headers = sign_in(client, "new_reviewer")
        by_name = searched(client, headers, f"from:{move.member_name}")
        assert by_name and {hit["sender"] for hit in by_name} == {move.member}
        unknown = client.get("/api/v1/search", params={"q": "from:查无此人"}, headers=headers)
        assert unknown.status_code == 400 and unknown.json()["type"].endswith(":unknown_name")
