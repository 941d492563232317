"""The directory client against the simulated WeCom's real HTTP server: departments, members
across cursor pages, member status, customers by member, internal groups, robots, the errors
WeCom answers (no privilege, not an internal group, malformed answers) and call pacing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from archive.simulator.directory import DirectoryWorld
from archive.simulator.server import _json
from archive.wecom.client import WeComClient
from archive.wecom.directory import (
    CallPacer,
    DirectoryAccessError,
    MemberStatus,
    NotInternalGroupError,
    PacedWeComClient,
    WeComDirectory,
)
from archive.wecom.errors import WeComApiError, WeComRejectedError, WeComTransientError
from tests.archive.simulator.handover_edge import HandoverEdge, handover_edge

_T = TypeVar("_T")


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[HandoverEdge]:
    with handover_edge(tmp_path) as edge:
        WORLDS[id(edge)] = DirectoryWorld(edge.world).install(edge.server)
        yield edge
        del WORLDS[id(edge)]


WORLDS: dict[int, DirectoryWorld] = {}


def directory_of(edge: HandoverEdge) -> DirectoryWorld:
    """The directory world installed over ``edge``'s handover world."""
    return WORLDS[id(edge)]


def run(edge: HandoverEdge, scenario: Callable[[WeComDirectory], Awaitable[_T]]) -> _T:
    async def with_clients() -> _T:
        async with (
            WeComClient(edge.server.url, edge.simulator.corp_id, edge.world.contact_secret) as contact,
            WeComClient(edge.server.url, edge.simulator.corp_id, edge.simulator.archive_secret) as archive,
        ):
            return await scenario(WeComDirectory(contact, archive))

    return asyncio.run(with_clients())


def test_departments_are_the_company_tree_with_the_root_parentless(edge: HandoverEdge) -> None:
    departments = run(edge, lambda api: api.departments())
    company = edge.world.company
    assert {(d.dept_id, d.name, d.parent_id) for d in departments} == {
        (d.id, d.name, d.parent_id) for d in company.departments
    }
    assert [d.dept_id for d in departments if d.parent_id is None] == [1]


def test_member_ids_follow_the_cursor_and_leave_out_departed_members(edge: HandoverEdge) -> None:
    refs = run(edge, lambda api: api.member_refs())
    company, world = edge.world.company, edge.world
    expected = {(e.userid, (e.department_id,)) for e in company.employees if e.userid not in world.departed}
    assert {(r.userid, r.department_ids) for r in refs} == expected
    assert edge.server.api_requests.count("/cgi-bin/user/list_id") > 1, "small pages: the cursor was followed"


def test_a_member_has_a_name_departments_and_status_and_a_deleted_one_is_none(edge: HandoverEdge) -> None:
    world = directory_of(edge)
    active = world.listed_members()[0]
    world.statuses[active.userid] = 4
    departed = next(iter(edge.world.departed))
    member, gone = run(edge, lambda api: asyncio.gather(api.member(active.userid), api.member(departed)))
    assert member is not None and gone is None
    assert (member.userid, member.name, member.department_ids) == (active.userid, active.name, (active.department_id,))
    assert member.status is MemberStatus.NOT_ACTIVATED and member.status.is_member
    assert not MemberStatus.LEFT.is_member


def test_customers_by_member_are_every_follow_of_those_members_across_pages(edge: HandoverEdge) -> None:
    world = edge.world
    users = run(edge, lambda api: api.follow_users())
    assert set(users) == {u for u in world.follows if world.active(u)}
    follows = run(edge, lambda api: api.follows_of(users))
    assert {(f.userid, f.customer.external_userid) for f in follows} == {
        (u, ext) for u in users for ext in world.follows[u]
    }
    assert edge.server.api_requests.count("/cgi-bin/externalcontact/batch/get_by_user") > 1
    sample = follows[0]
    assert sample.customer.name == world.company.customer(sample.customer.external_userid).name
    assert sample.added_at is not None and sample.remark == sample.customer.name


def test_internal_groups_are_read_and_a_customer_group_is_refused_with_301059(edge: HandoverEdge) -> None:
    company = edge.world.company
    internal = next(g for g in company.groups if g.kind == "internal")
    customer = next(g for g in company.groups if g.kind == "customer")
    group = run(edge, lambda api: api.internal_group(internal.roomid))
    assert (group.name, group.creator) == (internal.name, internal.owner)
    assert [m.userid for m in group.members] == list(internal.members)
    with pytest.raises(NotInternalGroupError) as refused:
        run(edge, lambda api: api.internal_group(customer.roomid))
    assert refused.value.errcode == 301059 and "externalcontact/groupchat/get" in refused.value.hint


def test_robots_are_named_and_an_unknown_robot_is_refused(edge: HandoverEdge) -> None:
    robot = edge.world.company.robots[0]
    found = run(edge, lambda api: api.robot(robot.robot_id))
    assert (found.robot_id, found.name, found.creator_userid) == (robot.robot_id, robot.name, robot.creator_userid)
    with pytest.raises(WeComRejectedError):
        run(edge, lambda api: api.robot("wbunknown"))


@pytest.mark.parametrize(
    ("path", "errcode", "secret_named"),
    [
        ("/cgi-bin/user/list_id", 60011, "客户联系"),
        ("/cgi-bin/externalcontact/batch/get_by_user", 48002, "客户联系"),
        ("/cgi-bin/msgaudit/get_robot_info", 48002, "会话内容存档"),
    ],
)
def test_no_privilege_names_the_secret_that_lacks_the_scope(
    edge: HandoverEdge, path: str, errcode: int, secret_named: str
) -> None:
    directory_of(edge).faults.refuse[path] = errcode
    robot = edge.world.company.robots[0].robot_id
    calls: dict[str, Callable[[WeComDirectory], Awaitable[object]]] = {
        "/cgi-bin/user/list_id": lambda api: api.member_refs(),
        "/cgi-bin/externalcontact/batch/get_by_user": lambda api: api.follows_of(["anyone"]),
        "/cgi-bin/msgaudit/get_robot_info": lambda api: api.robot(robot),
    }
    with pytest.raises(DirectoryAccessError) as refused:
        run(edge, calls[path])
    assert refused.value.errcode == errcode
    assert secret_named in refused.value.hint
    assert "access_token" not in str(refused.value)


def test_a_malformed_answer_is_a_typed_error_never_skipped(edge: HandoverEdge) -> None:
    edge.server.extra_routes[("GET", "/cgi-bin/department/list")] = lambda _q, _b: _json(
        200, {"errcode": 0, "errmsg": "ok", "department": [{"id": "two", "name": "销售部"}]}
    )
    edge.server.extra_routes[("GET", "/cgi-bin/user/get")] = lambda _q, _b: _json(
        200, {"errcode": 0, "errmsg": "ok", "userid": "x", "name": "某人", "department": [1], "status": 9}
    )
    with pytest.raises(WeComApiError, match="department without an id or name"):
        run(edge, lambda api: api.departments())
    with pytest.raises(WeComApiError, match="known status"):
        run(edge, lambda api: api.member("x"))


def test_the_pacer_spaces_calls_to_the_configured_rate_and_counts_them() -> None:
    now = [0.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    pacer = CallPacer(120, monotonic=lambda: now[0], sleep=sleep)

    async def burst() -> None:
        for _ in range(5):
            await pacer.wait()
        now[0] += 10  # a quiet spell: the next call goes at once
        await pacer.wait()

    asyncio.run(burst())
    assert sleeps == [0.5, 0.5, 0.5, 0.5]  # 120 calls/minute: one every 0.5 s, never a burst
    assert pacer.calls == 6


def test_a_paced_client_counts_every_call_it_makes(edge: HandoverEdge) -> None:
    pacer = CallPacer(600_000)

    async def scenario() -> int:
        async with PacedWeComClient(
            edge.server.url, edge.simulator.corp_id, edge.world.contact_secret, pacer
        ) as client:
            api = WeComDirectory(client, client)
            await api.departments()
            await api.follow_users()
        return pacer.calls

    assert asyncio.run(scenario()) == 2


def test_rate_limits_are_retried_with_backoff_and_then_reported_as_transient(edge: HandoverEdge) -> None:
    faults = directory_of(edge).faults
    sleeps: list[float] = []

    async def record(delay: float) -> None:
        sleeps.append(delay)  # the backoff, observed instead of waited for

    def scenario(attempts: int) -> Callable[[], Coroutine[Any, Any, int]]:
        async def departments() -> int:
            async with WeComClient(
                edge.server.url,
                edge.simulator.corp_id,
                edge.world.contact_secret,
                retry_attempts=attempts,
                retry_backoff_s=0.5,
                sleep=record,
            ) as client:
                return len(await WeComDirectory(client, client).departments())

        return departments

    faults.rate_limited = 2
    assert asyncio.run(scenario(4)()) == len(edge.world.company.departments)
    assert sleeps == [0.5, 1.0]
    faults.rate_limited, faults.rate_limit_errcode = 5, 45033
    with pytest.raises(WeComTransientError) as busy:
        asyncio.run(scenario(3)())
    assert busy.value.retryable and busy.value.errcode == 45033
