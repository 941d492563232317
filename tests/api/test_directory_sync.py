"""The directory sync from the outside: the acceptance scenario of a real installation (no
demo code path) through the CLI, a signed WeCom callback that triggers a sync, and the
admin API that starts one and shows its status."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from api.app import create_app
from archive.clock import utcnow
from archive.directory.jobs import DirectorySyncTrigger
from archive.directory.models import DirectoryChange, DirectoryFollow, DirectoryMember, DirectoryMembership
from archive.models import Conversation, Message, MessageRecipient
from archive.wecom.callback_crypto import CallbackCrypto
from audit.events.models import ContactEvent
from audit.security import service as security
from config.database import session_scope
from config.settings import CallbackSettings
from tests.archive.directory.directory_edge import TEST_CALLS_PER_MINUTE, DirectoryEdge, open_directory_edge
from tests.conftest import Database

PASSWORD = "correct horse battery staple"
PURPOSE = "directory-acceptance"
CALLBACK_TOKEN = "directoryToken"
CALLBACK_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


@pytest.fixture
def edge(
    database: Database, fake_sdk_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DirectoryEdge]:
    with open_directory_edge(database, fake_sdk_library, tmp_path, monkeypatch) as edge:
        yield edge


def create_user(edge: DirectoryEdge, username: str, role: str, departments: Sequence[tuple[str, int]] = ()) -> None:
    with session_scope(edge.database.sessions) as session:
        security.create_user(
            session,
            security.cli_principal("cli:test"),
            username=username,
            password=PASSWORD,
            role=role,
            scope_all=False,
            departments=list(departments),
            now=utcnow(),
        )


def login(client: TestClient[Any], username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"], "X-Access-Purpose": PURPOSE}


def visible_conversations(client: TestClient[Any], headers: dict[str, str]) -> set[int]:
    found: set[int] = set()
    cursor: str | None = None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/conversations", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        found |= {item["id"] for item in page["items"]}
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def participants(edge: DirectoryEdge) -> dict[int, set[str]]:
    """Conversation id → everyone who took part, from the stored rows."""
    people: dict[int, set[str]] = {}
    with session_scope(edge.database.sessions) as session:
        for conversation in session.scalars(select(Conversation)):
            people[conversation.id] = {p for p in (conversation.participant_a, conversation.participant_b) if p}
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
    return people


def subtree(parents: dict[int, int | None], root: int) -> set[int]:
    found, changed = {root}, True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in found and child not in found:
                found.add(child)
                changed = True
    return found


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env={**env, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_real_installation_syncs_its_directory_and_a_department_reviewer_sees_exactly_its_department(
    edge: DirectoryEdge,
) -> None:
    company = edge.directory.company
    parents = {d.id: d.parent_id for d in company.departments}
    listed = edge.directory.listed_members()  # what WeCom's 通讯录 lists: the leavers are gone
    people = participants(edge)

    def expected_for(dept: int) -> set[int]:
        members = {e.userid for e in listed if e.department_id in subtree(parents, dept)}
        return {c for c, who in people.items() if who & members}

    # A department whose staff took part in some conversations but not all of them.
    dept = next(d for d in sorted(parents, reverse=True) if 0 < len(expected_for(d)) < len(people) // 2)
    expected = expected_for(dept)
    create_user(edge, "reviewer", "reviewer", [(edge.corp_id, dept)])
    app = create_app(edge.context())
    with TestClient(app=app) as client:
        before = visible_conversations(client, login(client, "reviewer"))
    assert before == set(), "no directory yet: a department scope reaches nobody"

    # The installation's settings as an admin sets them: the corp, both secrets, WeCom's URL.
    env = {
        **edge.env(),
        "WECOM_AUDIT_WECOM__CONTACT_SECRET": edge.handover.contact_secret,
        "WECOM_AUDIT_WECOM__API_BASE_URL": edge.server.url,
        "WECOM_AUDIT_SCHEDULER__DIRECTORY_CALLS_PER_MINUTE": str(TEST_CALLS_PER_MINUTE),
    }
    init = cli(env, "init")
    assert init.returncode == 0, init.stderr
    synced = cli(env, "directory", "sync")
    assert synced.returncode == 0, synced.stderr
    assert "synced" in synced.stdout and "members.joined" in synced.stdout

    with TestClient(app=app) as client:
        after = visible_conversations(client, login(client, "reviewer"))
    assert after == expected
    status = cli(env, "directory", "status")
    assert status.returncode == 0 and "Last sync" in status.stdout


def test_the_sync_command_fails_in_one_line_with_what_to_do_when_a_secret_lacks_the_scope(
    edge: DirectoryEdge,
) -> None:
    edge.directory.faults.refuse["/cgi-bin/department/list"] = 60011
    env = {
        **edge.env(),
        "WECOM_AUDIT_WECOM__CONTACT_SECRET": edge.handover.contact_secret,
        "WECOM_AUDIT_WECOM__API_BASE_URL": edge.server.url,
    }
    result = cli(env, "directory", "sync")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("{")]  # no logs
    assert lines[0].startswith("Error: WeCom department/list answered errcode 60011"), result.stderr
    assert "客户联系" in result.stderr and "Traceback" not in result.stderr
    without_secret = cli({**edge.env(), "WECOM_AUDIT_WECOM__API_BASE_URL": edge.server.url}, "directory", "sync")
    assert without_secret.returncode == 1 and "WECOM_AUDIT_WECOM__CONTACT_SECRET" in without_secret.stderr


def test_a_signed_change_callback_triggers_a_directory_sync(edge: DirectoryEdge) -> None:
    edge.settings.callback = CallbackSettings(
        token=SecretStr(CALLBACK_TOKEN), encoding_aes_key=SecretStr(CALLBACK_AES_KEY)
    )
    edge.settings.scheduler.directory_sync_debounce_s = 0.2
    edge.settings.scheduler.directory_calls_per_minute = TEST_CALLS_PER_MINUTE
    edge.sync()
    world = edge.directory
    edge.handover.callbacks.configure(CallbackCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, edge.corp_id))
    renamed = world.listed_members()[0]
    follower = next(u for u in world.follow_users() if edge.handover.follows[u])
    lost = edge.handover.follows[follower][0]
    world.rename_member(renamed.userid, "改名后")  # change_contact / update_user
    world.customer_deletes_member(follower, lost)  # change_external_contact / del_follow_user
    deliveries = edge.handover.callbacks.deliveries
    assert [d.event["ChangeType"] for d in deliveries] == ["update_user", "del_follow_user"]

    app = create_app(edge.context())
    trigger: DirectorySyncTrigger = app.state["directory_sync"]
    with TestClient(app=app) as client:
        for delivery in deliveries:
            response = client.post("/wecom/callback", params=delivery.params, content=delivery.body)
            assert response.status_code == 200, response.text
        trigger.wait(edge.corp_id, timeout_s=60)

    assert trigger.finished[edge.corp_id] != "internal"
    with session_scope(edge.database.sessions) as session:
        member = session.get(DirectoryMember, (edge.corp_id, renamed.userid))
        follow = session.get(DirectoryFollow, (edge.corp_id, follower, lost))
        changes = {(c.subject_id, c.change, c.source) for c in session.scalars(select(DirectoryChange))}
        events = list(session.scalars(select(ContactEvent.change_type)))
    assert member is not None and member.name == "改名后"
    # Who ended the follow, and when, comes from the callback (a sync cannot tell).
    ended_at = datetime.fromtimestamp(int(deliveries[1].event["CreateTime"]), UTC)
    assert follow is not None and (follow.removed_by, follow.removed_at) == ("customer", ended_at)
    assert changes == {(renamed.userid, "renamed", "sync"), (lost, "removed", "callback")}
    assert events == ["del_follow_user"], "the contact event is still recorded for the detectors"
    assert world.calls["/cgi-bin/department/list"] == 2, "the two callbacks made one sync"


def test_a_move_and_a_departure_by_callback_apply_at_once_dated_by_wecom(edge: DirectoryEdge) -> None:
    """update_user with Department moves the member at once (scopes follow without waiting for
    the debounced sync) and delete_user dates the departure by the event; the sync that
    follows confirms both and records nothing twice."""
    edge.settings.callback = CallbackSettings(
        token=SecretStr(CALLBACK_TOKEN), encoding_aes_key=SecretStr(CALLBACK_AES_KEY)
    )
    edge.settings.scheduler.directory_sync_debounce_s = 600  # the sync runs only when the test says
    edge.settings.scheduler.directory_calls_per_minute = TEST_CALLS_PER_MINUTE
    edge.sync()
    world = edge.directory
    edge.handover.callbacks.configure(CallbackCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, edge.corp_id))
    mover, leaver = (member.userid for member in world.listed_members()[:2])
    with session_scope(edge.database.sessions) as session:
        before = session.get(DirectoryMember, (edge.corp_id, mover))
        assert before is not None
        old_departments = {m.department_id for m in world.listed_members() if m.userid == mover}
    target = next(d.id for d in edge.handover.company.departments if d.id not in old_departments and d.id != 1)
    world.move_member(mover, target)
    world.member_leaves(leaver)
    deliveries = edge.handover.callbacks.deliveries
    assert [d.event["ChangeType"] for d in deliveries] == ["update_user", "delete_user"]
    moved_at, left_at = (datetime.fromtimestamp(int(d.event["CreateTime"]), UTC) for d in deliveries)

    with TestClient(app=create_app(edge.context())) as client:
        for delivery in deliveries:
            assert client.post("/wecom/callback", params=delivery.params, content=delivery.body).status_code == 200

    def member_changes() -> list[tuple[str, str, str, datetime]]:
        with session_scope(edge.database.sessions) as session:
            return [
                (c.subject_id, c.change, c.source, c.occurred_at)
                for c in session.scalars(select(DirectoryChange).order_by(DirectoryChange.id))
                if c.subject == "member"
            ]

    applied = [(mover, "moved", "callback", moved_at), (leaver, "left", "callback", left_at)]
    assert member_changes() == applied
    with session_scope(edge.database.sessions) as session:
        memberships = {
            m.dept_id
            for m in session.scalars(
                select(DirectoryMembership).where(
                    DirectoryMembership.corp_id == edge.corp_id, DirectoryMembership.userid == mover
                )
            )
        }
        gone = session.get(DirectoryMember, (edge.corp_id, leaver))
    assert memberships == {target}, "the move applies before any sync"
    assert gone is not None and not gone.is_active and gone.left_at == left_at

    edge.sync()
    assert member_changes() == applied, "the sync confirms the callbacks and records nothing twice"


def test_admins_start_a_sync_through_the_api_and_anyone_with_status_sees_it(edge: DirectoryEdge) -> None:
    edge.settings.scheduler.directory_calls_per_minute = TEST_CALLS_PER_MINUTE
    create_user(edge, "admin", "admin")
    create_user(edge, "reviewer", "reviewer")
    app = create_app(edge.context())
    trigger: DirectorySyncTrigger = app.state["directory_sync"]
    with TestClient(app=app) as client:
        headers = login(client, "reviewer")
        assert client.post("/api/v1/directory/sync", json={}, headers=headers).status_code == 403
    with TestClient(app=app) as client:
        headers = login(client, "admin")
        started = client.post("/api/v1/directory/sync", json={}, headers=headers)
        assert started.status_code == 202, started.text
        assert started.json()["started"] is True and started.json()["corp_id"] == edge.corp_id
        trigger.wait(edge.corp_id, timeout_s=60)
        status = client.get("/api/v1/directory/status", headers=headers)
        assert status.status_code == 200, status.text
        [view] = status.json()
        unknown = client.post("/api/v1/directory/sync", json={"corp_id": "wwnosuchcorp"}, headers=headers)
    assert view["running"] is False and view["step"] is None and view["error"] is None
    assert view["last_report"]["counts"]["members.joined"] == len(edge.directory.listed_members())
    assert view["last_report"]["trigger"] == "api"
    assert unknown.status_code == 404
