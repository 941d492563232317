"""Who may change retention rules, and how: locked policies never shorten, holds are only
released or narrowed by an admin with a reason, and every change is in the admin history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from archive.directory.service import sync_directory
from archive.errors import ArchiveError
from archive.retention.errors import (
    HoldChangeRefusedError,
    InvalidRetentionRuleError,
    PolicyChangeRefusedError,
    RetentionNotFoundError,
    RetentionPolicyLockedError,
)
from archive.retention.models import RetentionAction, RetentionRevision
from archive.retention.service import RetentionService, years_to_days
from archive.retention.views import PolicyScope
from archive.simulator.company import build_company
from archive.simulator.directory_feed import directory_of
from config.database import session_scope
from tests.archive.retention.helpers import ADMIN, DAY, NOW, OFFICER
from tests.conftest import Database

CORP_ID = "wwretentiontest"
Change = Callable[[RetentionService], object]


@contextmanager
def service(database: Database) -> Iterator[RetentionService]:
    with session_scope(database.sessions) as session:
        yield RetentionService(session, CORP_ID, clock=lambda: NOW)


def revision(database: Database) -> int:
    with database.sessions() as session:
        return session.scalar(select(RetentionRevision.revision)) or 0


def test_a_locked_policy_cannot_be_shortened_even_by_an_admin(database: Database) -> None:
    with service(database) as retention:
        policy = retention.create_policy(ADMIN, PolicyScope("corp", ""), years_to_days(7))
        retention.lock_policy(ADMIN, policy.id, reason="CSRC record-keeping rule")

    for actor in (ADMIN, OFFICER):
        with pytest.raises(RetentionPolicyLockedError) as refused, service(database) as retention:
            retention.set_policy_days(actor, policy.id, 365, reason="storage costs")
        assert refused.value.hint and "locked" in str(refused.value)
    with service(database) as retention:
        lengthened = retention.set_policy_days(OFFICER, policy.id, years_to_days(10))
        assert (lengthened.retain_days, lengthened.locked) == (years_to_days(10), True)
        assert [p.retain_days for p in retention.policies()] == [3653]


def test_shortening_an_unlocked_policy_needs_an_admin_and_a_reason(database: Database) -> None:
    with service(database) as retention:
        policy = retention.create_policy(ADMIN, PolicyScope.parse("chat:group"), 90, name="groups")
    with pytest.raises(PolicyChangeRefusedError, match="only an admin"), service(database) as retention:
        retention.set_policy_days(OFFICER, policy.id, 30, reason="too much data")
    with pytest.raises(PolicyChangeRefusedError, match="needs a reason"), service(database) as retention:
        retention.set_policy_days(ADMIN, policy.id, 30, reason="  ")
    with service(database) as retention:
        assert retention.set_policy_days(OFFICER, policy.id, 120).retain_days == 120, "lengthening is open to all"
        assert retention.set_policy_days(ADMIN, policy.id, 30, reason="board decision 2026-07").retain_days == 30
    with pytest.raises(PolicyChangeRefusedError), service(database) as retention:
        retention.create_policy(OFFICER, PolicyScope("corp", ""), 30)
    with pytest.raises(PolicyChangeRefusedError), service(database) as retention:
        retention.lock_policy(OFFICER, policy.id)


def test_policies_are_validated(database: Database) -> None:
    company = build_company(5)
    with session_scope(database.sessions) as session:
        sync_directory(session, CORP_ID, *directory_of(company), NOW)
    with service(database) as retention:
        retention.create_policy(ADMIN, PolicyScope.parse("department:3"), 400)
    for scope_text in ("department:abc", "chat:wechat", "everyone", "corp:1"):
        with pytest.raises(InvalidRetentionRuleError):
            PolicyScope.parse(scope_text)
    bad_calls: list[Change] = [
        lambda r: r.create_policy(ADMIN, PolicyScope("department", "999"), 30),  # not in the directory
        lambda r: r.create_policy(ADMIN, PolicyScope("department", "3"), 30),  # the scope has a policy
        lambda r: r.create_policy(ADMIN, PolicyScope("corp", ""), 0),
        lambda r: r.create_policy(ADMIN, PolicyScope("corp", ""), 30, name="x" * 65),
    ]
    for call in bad_calls:
        with pytest.raises(InvalidRetentionRuleError), service(database) as retention:
            call(retention)
    with pytest.raises(RetentionNotFoundError), service(database) as retention:
        retention.set_policy_days(ADMIN, 12345, 30)
    assert years_to_days(1) == 366 and years_to_days(4) == 1461 and years_to_days(7) == 2557


def test_holds_are_released_or_narrowed_only_by_an_admin_with_a_reason(database: Database) -> None:
    with service(database) as retention:
        hold = retention.create_hold(OFFICER, [("employee", "ZhangWei")], starts_at=NOW - 90 * DAY)
        assert (hold.kind, hold.name, hold.active) == ("employee", "employee:ZhangWei", True)

    refusals = [
        (OFFICER, "the matter is closed"),
        (ADMIN, None),
        (ADMIN, "   "),
    ]
    for actor, reason in refusals:
        with pytest.raises(HoldChangeRefusedError) as refused, service(database) as retention:
            retention.release_hold(actor, hold.id, reason=reason)
        assert refused.value.hint
        with pytest.raises(HoldChangeRefusedError), service(database) as retention:
            retention.change_hold_window(actor, hold.id, starts_at=NOW - 30 * DAY, ends_at=None, reason=reason)
        with pytest.raises(HoldChangeRefusedError), service(database) as retention:
            retention.change_hold_window(actor, hold.id, starts_at=NOW - 90 * DAY, ends_at=NOW, reason=reason)

    with service(database) as retention:
        widened = retention.change_hold_window(OFFICER, hold.id, starts_at=None, ends_at=None)
        assert (widened.starts_at, widened.ends_at) == (None, None), "widening a hold is open to all"
        released = retention.release_hold(ADMIN, hold.id, reason=" court order lifted ")
        assert (released.active, released.released_by, released.release_reason) == (
            False,
            ADMIN.name,
            "court order lifted",
        )
        assert retention.holds() == [] and len(retention.holds(include_released=True)) == 1
    with pytest.raises(HoldChangeRefusedError, match="released already"), service(database) as retention:
        retention.release_hold(ADMIN, hold.id, reason="again")


def test_hold_kinds_follow_from_what_they_list(database: Database) -> None:
    with service(database) as retention:
        kinds = [
            retention.create_hold(OFFICER, [("customer", "wmCustomer1")]).kind,
            retention.create_hold(OFFICER, [("room", "wrRoom1")]).kind,
            retention.create_hold(OFFICER, starts_at=NOW - 10 * DAY, ends_at=NOW).kind,
            retention.create_hold(OFFICER, [("employee", "a"), ("room", "wrRoom2")], case="CASE-7").kind,
        ]
    assert kinds == ["customer", "room", "date_range", "case"]
    invalid: list[Change] = [
        lambda r: r.create_hold(OFFICER),  # holds nothing
        lambda r: r.create_hold(OFFICER, [("employee", "a"), ("employee", "b")]),  # several: a case
        lambda r: r.create_hold(OFFICER, [("department", "3")]),
        lambda r: r.create_hold(OFFICER, [("employee", " ")]),
        lambda r: r.create_hold(OFFICER, starts_at=NOW, ends_at=NOW - DAY),
        lambda r: r.create_hold(OFFICER, starts_at=NOW.replace(tzinfo=None)),
        lambda r: r.create_hold(OFFICER, case="EMPTY-CASE"),
    ]
    for call in invalid:
        with pytest.raises(InvalidRetentionRuleError), service(database) as retention:
            call(retention)


def test_the_admin_history_records_every_change_and_nothing_refused(database: Database) -> None:
    with service(database) as retention:
        policy = retention.create_policy(ADMIN, PolicyScope("corp", ""), 365, reason="initial policy")
        retention.set_policy_days(ADMIN, policy.id, 180, reason="legal review")
        retention.lock_policy(ADMIN, policy.id)
        retention.lock_policy(ADMIN, policy.id)  # already locked: no change, no entry
        hold = retention.create_hold(OFFICER, [("room", "wrRoom")], case="CASE-1", reason="subpoena")
        retention.change_hold_window(ADMIN, hold.id, starts_at=NOW - 30 * DAY, ends_at=None, reason="scope agreed")
        retention.release_hold(ADMIN, hold.id, reason="closed")
    with pytest.raises(ArchiveError), service(database) as retention:
        retention.set_policy_days(ADMIN, policy.id, 30, reason="refused: locked")

    with service(database) as retention:
        history = list(reversed(retention.history()))
    assert [entry.action for entry in history] == [
        RetentionAction.POLICY_CREATED,
        RetentionAction.POLICY_RETENTION_CHANGED,
        RetentionAction.POLICY_LOCKED,
        RetentionAction.HOLD_CREATED,
        RetentionAction.HOLD_WINDOW_CHANGED,
        RetentionAction.HOLD_RELEASED,
    ]
    created, changed, locked, placed, narrowed, released = history
    assert created.before is None and created.after is not None and created.after["retain_days"] == 365
    assert changed.before is not None and changed.after is not None
    assert (changed.before["retain_days"], changed.after["retain_days"], changed.reason) == (365, 180, "legal review")
    assert (locked.before, locked.after) == ({**changed.after, "locked": False}, {**changed.after, "locked": True})
    assert (placed.actor, placed.actor_is_admin, placed.hold_id, placed.reason) == (
        OFFICER.name,
        False,
        hold.id,
        "subpoena",
    )
    assert placed.after is not None and placed.after["subjects"] == [["room", "wrRoom"]]
    assert narrowed.before is not None and narrowed.after is not None
    assert (narrowed.before["starts_at"], narrowed.after["starts_at"]) == (None, (NOW - 30 * DAY).isoformat())
    assert released.reason == "closed" and released.after is not None and released.after["released_at"]
    assert all(entry.at == NOW for entry in history)
    assert revision(database) == 6, "each change moves the rules revision once"
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RetentionRevision)) == 1
