"""The directory sync through the simulated WeCom's real HTTP server, on SQLite and PostgreSQL:
the first sync stores what WeCom lists, a second writes nothing, changes over time are
recorded with their dates, a failed sync resumes at its step, and one sync runs at a time."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive import repository as archive_repository
from archive.clock import utcnow
from archive.directory import repository
from archive.directory.errors import DirectorySyncBusy
from archive.directory.models import (
    DirectoryChange,
    DirectoryCustomer,
    DirectoryDepartment,
    DirectoryFollow,
    DirectoryGroup,
    DirectoryGroupMember,
    DirectoryMember,
    DirectoryRobot,
)
from archive.directory.service import sync_status
from archive.wecom.directory import DirectoryAccessError
from archive.wecom.errors import WeComRejectedError
from config.database import session_scope
from tests.archive.directory.directory_edge import DirectoryEdge, open_directory_edge
from tests.conftest import Database


@pytest.fixture
def edge(
    database: Database, fake_sdk_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DirectoryEdge]:
    with open_directory_edge(database, fake_sdk_library, tmp_path, monkeypatch) as edge:
        yield edge


def count(edge: DirectoryEdge, model: type[object]) -> int:
    with session_scope(edge.database.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_first_sync_stores_what_wecom_lists_and_a_second_writes_nothing(edge: DirectoryEdge) -> None:
    world, handover = edge.directory, edge.handover
    company = world.company
    report = edge.sync()

    follows = {(u, ext) for u in world.follow_users() for ext in handover.follows[u]}
    with session_scope(edge.database.sessions) as session:
        archived_rooms = set(repository.archived_group_roomids(session, edge.corp_id))
        archived_robots = set(repository.archived_robot_ids(session, edge.corp_id))
        groups = {g.roomid: g for g in session.scalars(select(DirectoryGroup))}
        members = {m.userid: m for m in session.scalars(select(DirectoryMember))}
        memberships = repository.memberships(session, edge.corp_id)
        stored_follows = {(f.userid, f.external_userid) for f in session.scalars(select(DirectoryFollow))}
    listed = world.listed_members()
    assert report.counts["departments.added"] == len(company.departments)
    assert report.counts["members.joined"] == len(listed)
    assert {u: (m.name, m.is_active) for u, m in members.items()} == {e.userid: (e.name, True) for e in listed}
    assert memberships == {e.userid: {e.department_id} for e in listed}
    assert stored_follows == follows and report.counts["follows.added"] == len(follows)
    assert report.counts["customers.added"] == len({ext for _u, ext in follows})
    customer_groups = set(handover.group_owner)
    internal = {g.roomid for g in company.groups if g.kind == "internal"} & archived_rooms
    assert {r for r, g in groups.items() if g.kind == "customer"} == customer_groups
    assert {r for r, g in groups.items() if g.kind == "internal"} == internal and internal
    some_group = next(g for g in company.groups if g.roomid in customer_groups)
    assert groups[some_group.roomid].name == some_group.name
    assert count(edge, DirectoryGroupMember) > len(groups)
    assert archived_robots and count(edge, DirectoryRobot) == len(archived_robots)
    assert report.api_calls > 10 and report.duration_s > 0 and report.resumed_from is None
    assert count(edge, DirectoryChange) == 0, "the first sync is the baseline, not a list of changes"

    again = edge.sync()
    assert again.counts == {}
    assert count(edge, DirectoryChange) == 0
    with session_scope(edge.database.sessions) as session:
        status = sync_status(session, edge.corp_id)
    assert status.step is None and status.error is None and status.lease_holder is None
    assert status.last_report is not None and status.last_report["counts"] == {}


def test_changes_over_time_are_recorded_with_their_dates(edge: DirectoryEdge) -> None:
    world, handover = edge.directory, edge.handover
    edge.sync()
    company = world.company
    listed = world.listed_members()
    renamed, mover, leaver = listed[0], listed[1], listed[2]
    target = next(d.id for d in company.departments if d.id not in (1, mover.department_id))
    department = company.departments[3]
    follower = next(u for u in world.follow_users() if handover.follows[u] and u not in (leaver.userid,))
    lost_customer = handover.follows[follower][0]
    groups = list(handover.group_owner)
    renamed_group, dismissed_group = groups[0], groups[1]

    before = utcnow()
    world.rename_member(renamed.userid, "改名后")
    world.move_member(mover.userid, target)
    world.member_leaves(leaver.userid)
    world.rename_department(department.id, "新部门名")
    world.rename_group(renamed_group, "新群名")
    world.dismiss_group(dismissed_group)
    world.customer_deletes_member(follower, lost_customer)
    report = edge.sync()
    after = utcnow()

    assert report.count("members.renamed") == report.count("members.moved") == report.count("members.left") == 1
    assert report.count("departments.renamed") == report.count("groups.renamed") == 1
    assert report.count("groups.dismissed") == report.count("follows.removed") == 1
    with session_scope(edge.database.sessions) as session:
        changes = {(c.subject, c.subject_id, c.change): c for c in session.scalars(select(DirectoryChange))}
        gone = session.get(DirectoryMember, (edge.corp_id, leaver.userid))
        moved = repository.memberships(session, edge.corp_id, [mover.userid, leaver.userid])
        follow = session.get(DirectoryFollow, (edge.corp_id, follower, lost_customer))
        dismissed = session.get(DirectoryGroup, (edge.corp_id, dismissed_group))
        dept = session.get(DirectoryDepartment, (edge.corp_id, department.id))
        customer = session.get(DirectoryCustomer, (edge.corp_id, lost_customer))
        assert dept is not None and dept.name == "新部门名"
        assert customer is not None, "a customer is never deleted"
    assert set(changes) == {
        ("member", renamed.userid, "renamed"),
        ("member", mover.userid, "moved"),
        ("member", leaver.userid, "left"),
        ("department", str(department.id), "renamed"),
        ("group", renamed_group, "renamed"),
        ("group", dismissed_group, "dismissed"),
        ("follow", lost_customer, "removed"),
    }
    assert all(before <= c.occurred_at <= after and c.source == "sync" for c in changes.values())
    assert changes[("member", renamed.userid, "renamed")].after == {"name": "改名后"}
    assert changes[("member", renamed.userid, "renamed")].before == {"name": renamed.name}
    assert changes[("member", mover.userid, "moved")].before == {"departments": [mover.department_id]}
    assert changes[("member", mover.userid, "moved")].after == {"departments": [target]}
    assert changes[("member", leaver.userid, "left")].before == {
        "name": leaver.name,
        "departments": [leaver.department_id],
    }
    assert changes[("follow", lost_customer, "removed")].before == {"userid": follower}
    assert gone is not None and not gone.is_active and gone.left_at is not None and before <= gone.left_at <= after
    assert moved == {mover.userid: {target}, leaver.userid: {leaver.department_id}}, "a leaver keeps its department"
    assert follow is not None and follow.removed_by == "unknown" and follow.removed_at is not None
    assert dismissed is not None and not dismissed.is_active

    assert edge.sync().counts == {}, "recorded once"


def test_a_failed_sync_keeps_its_step_and_the_next_run_resumes_there(edge: DirectoryEdge) -> None:
    world = edge.directory
    edge.sync()
    renamed = world.listed_members()[0]
    world.rename_member(renamed.userid, "改名后")
    world.faults.refuse["/cgi-bin/externalcontact/batch/get_by_user"] = 60011

    with pytest.raises(DirectoryAccessError):
        edge.sync()
    with session_scope(edge.database.sessions) as session:
        status = sync_status(session, edge.corp_id)
        member = session.get(DirectoryMember, (edge.corp_id, renamed.userid))
        assert member is not None and member.name == "改名后", "the members step was committed before the failure"
    assert status.step == "customers" and status.error is not None and "60011" in status.error
    assert "客户联系" in status.error and status.lease_holder is None, "the lease is released"

    del world.faults.refuse["/cgi-bin/externalcontact/batch/get_by_user"]
    calls_before = dict(world.calls)
    report = edge.sync()
    assert report.resumed_from == "customers"
    assert report.count("members.renamed") == 1, "the interrupted run's counts are carried over"
    for path in ("/cgi-bin/department/list", "/cgi-bin/user/list_id", "/cgi-bin/user/get"):
        assert world.calls[path] == calls_before[path], f"{path} was not read again"
    assert world.calls["/cgi-bin/externalcontact/batch/get_by_user"] > calls_before.get(
        "/cgi-bin/externalcontact/batch/get_by_user", 0
    )
    with session_scope(edge.database.sessions) as session:
        assert sync_status(session, edge.corp_id).step is None
        renames = [c for c in repository.changes(session, edge.corp_id, renamed.userid) if c.change == "renamed"]
    assert len(renames) == 1


def test_a_step_whose_plan_went_stale_is_listed_again_on_resume(edge: DirectoryEdge) -> None:
    """A member listed by get_follow_user_list leaves before their customers are read: WeCom
    refuses the userid (40003). The next run re-lists the step instead of failing forever."""
    world = edge.directory
    edge.sync()
    path = "/cgi-bin/externalcontact/batch/get_by_user"
    world.faults.refuse[path] = 40003
    with pytest.raises(WeComRejectedError):
        edge.sync()
    leaver = next(u for u in world.follow_users() if edge.handover.follows[u])
    world.member_leaves(leaver)
    del world.faults.refuse[path]
    listed_before = world.calls["/cgi-bin/externalcontact/get_follow_user_list"]

    report = edge.sync()
    assert report.resumed_from == "customers"
    assert world.calls["/cgi-bin/externalcontact/get_follow_user_list"] == listed_before + 1, "listed again"
    assert report.count("follows.removed") == 0
    with session_scope(edge.database.sessions) as session:
        kept = repository.follows_of(session, edge.corp_id, [leaver])
    assert kept and all(f.removed_at is None for f in kept.values()), "a leaver's customers await a handover"
    assert edge.sync().count("members.left") == 1, "the next full sync sees the departure"


def test_one_sync_per_corp_at_a_time(edge: DirectoryEdge) -> None:
    with session_scope(edge.database.sessions) as session:
        assert archive_repository.acquire_lease(
            session, repository.sync_lease_name(edge.corp_id), "otherhost:1:abc", utcnow(), timedelta(minutes=5)
        )
    with pytest.raises(DirectorySyncBusy, match="already running"):
        edge.sync()
    assert edge.directory.calls["/cgi-bin/department/list"] == 0, "nothing was read"


def test_a_sync_killed_mid_way_resumes_at_its_step_without_waiting_for_the_lease(edge: DirectoryEdge) -> None:
    """A real ``wecom-audit directory sync`` process, paced slowly, is killed (SIGKILL) once it
    has committed past the members step; the next sync takes over its lease at once (the holder
    is a dead process on this host) and carries on from the step it was in."""
    env = {
        **edge.env(),
        "WECOM_AUDIT_WECOM__CONTACT_SECRET": edge.handover.contact_secret,
        "WECOM_AUDIT_WECOM__API_BASE_URL": edge.server.url,
        "WECOM_AUDIT_SCHEDULER__DIRECTORY_CALLS_PER_MINUTE": "600",  # one call per 0.1 s
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "directory", "sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        step = None
        while time.monotonic() < deadline and process.poll() is None:
            with session_scope(edge.database.sessions) as session:
                step = sync_status(session, edge.corp_id).step
            if step in ("customers", "groups"):
                break
            time.sleep(0.05)
        assert step in ("customers", "groups"), f"the sync did not get past the members step ({step})"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    with session_scope(edge.database.sessions) as session:
        killed_at = sync_status(session, edge.corp_id)
        members = count(edge, DirectoryMember)
    assert killed_at.step in ("customers", "groups") and killed_at.lease_holder is not None
    assert members == len(edge.directory.listed_members()), "the members step was committed whole"
    calls_at_kill = dict(edge.directory.calls)

    report = edge.sync()
    assert report.resumed_from == killed_at.step
    assert report.count("members.joined") == members, "the killed run's counts are carried over"
    for path in ("/cgi-bin/department/list", "/cgi-bin/user/list_id", "/cgi-bin/user/get"):
        assert edge.directory.calls[path] == calls_at_kill[path], f"{path} was not read again"
    with session_scope(edge.database.sessions) as session:
        done = sync_status(session, edge.corp_id)
        follows = {(f.userid, f.external_userid) for f in session.scalars(select(DirectoryFollow))}
    assert done.step is None and done.lease_holder is None
    assert follows == {(u, ext) for u in edge.directory.follow_users() for ext in edge.handover.follows[u]}
