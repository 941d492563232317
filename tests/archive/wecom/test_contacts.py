"""The customer-contact and transfer client against the simulated WeCom's real HTTP server:
departed members' customers and groups, transfers that complete, wait, are refused, hit
limits or are auto-accepted after 24 hours, batching, pagination, rate limits and tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.simulator.server import ACCESS_TOKEN_TTL_S
from archive.wecom.client import BlockingWeComClient
from archive.wecom.contacts import (
    TRANSFER_BATCH_LIMIT,
    GroupStatus,
    TransferAnswer,
    TransferResult,
    TransferStatus,
    UnassignedCustomer,
    WeComContacts,
)
from archive.wecom.errors import WeComApiError, WeComConfigurationError, WeComRejectedError, WeComTransientError
from tests.archive.simulator.handover_edge import HandoverEdge, handover_edge

HOUR_S = 3600


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[HandoverEdge]:
    with handover_edge(tmp_path) as edge:
        yield edge


def leaver(edge: HandoverEdge) -> str:
    return next(iter(edge.world.departed))


def successor(edge: HandoverEdge, of: str) -> str:
    company = edge.world.company
    department = company.employee(of).department_id
    colleagues = [e.userid for e in company.employees if edge.world.active(e.userid)]
    return next((u for u in colleagues if company.employee(u).department_id == department), colleagues[0])


def statuses(results: list[TransferResult]) -> dict[str, TransferStatus]:
    return {r.external_userid: r.status for r in results}


def test_unassigned_customers_are_the_departed_members_customers_across_pages(edge: HandoverEdge) -> None:
    found: list[UnassignedCustomer] = edge.run(lambda api: api.unassigned_customers())
    world = edge.world
    expected = {(u, ext) for u in world.departed for ext in world.follows[u]}
    assert {(c.handover_userid, c.external_userid) for c in found} == expected
    assert len(found) == len(expected) > 30
    assert edge.calls("get_unassigned_list") > 1, "the simulator pages small: the cursor was followed"
    deleted = {d.external_userid for d in world.deletions}
    assert deleted and not deleted & {c.external_userid for c in found}, "deleted before leaving: not unassigned"
    for customer in found:
        assert customer.dimission_time is not None
        assert customer.dimission_time.timestamp() * 1000 == world.departed[customer.handover_userid]


def test_a_customers_data_and_followers(edge: HandoverEdge) -> None:
    member = leaver(edge)
    first = edge.world.follows[member][0]

    async def read(api: WeComContacts) -> tuple[list[str], str, list[str]]:
        contact = await api.customer(first)
        return await api.customer_ids(member), contact.name, [f.userid for f in contact.follow_users]

    ids, name, followers = edge.run(read)
    assert ids == edge.world.follows[member]
    assert name == edge.world.company.customer(first).name
    assert member in followers

    with pytest.raises(WeComRejectedError) as unknown:
        edge.run(lambda api: api.customer("wmNOSUCHCUSTOMER"))
    assert unknown.value.errcode == 40096 and unknown.value.hint
    with pytest.raises(WeComRejectedError) as nobody:
        edge.run(lambda api: api.customer_ids("NoSuchMember"))
    assert nobody.value.errcode == 40003


def test_a_member_without_customers_has_an_empty_list(edge: HandoverEdge) -> None:
    company = edge.world.company
    lonely = next(e.userid for e in company.employees if not edge.world.follows.get(e.userid))
    assert edge.run(lambda api: api.customer_ids(lonely)) == []  # WeCom answers 84061


def test_resigned_transfers_wait_complete_are_refused_or_auto_accepted_after_24_hours(edge: HandoverEdge) -> None:
    member = leaver(edge)
    heir = successor(edge, member)
    world = edge.world
    customers = list(world.follows[member])
    (quick,) = world.quick & set(customers)
    (refusing,) = world.refusing & set(customers)
    (too_often,) = world.too_often & set(customers)

    answers: list[TransferAnswer] = edge.run(lambda api: api.transfer_resigned_customers(member, heir, customers))
    assert [a.item_id for a in answers] == customers
    assert {a.item_id for a in answers if not a.accepted} == {too_often}
    refused_now = next(a for a in answers if a.item_id == too_often)
    assert refused_now.errcode == 40128 and refused_now.reason == "the customer was transferred too often"

    def results() -> dict[str, TransferStatus]:
        return statuses(edge.run(lambda api: api.resigned_transfer_results(member, heir)))

    waiting = results()
    assert set(waiting.values()) == {TransferStatus.WAITING} and len(waiting) == len(customers) - 1
    assert edge.calls("resigned/transfer_result") >= 2, "results span more than one page"

    edge.clock.advance(HOUR_S + 1)
    assert results()[quick] is TransferStatus.COMPLETED
    edge.clock.advance(HOUR_S)
    assert results()[refusing] is TransferStatus.REFUSED and TransferStatus.REFUSED.is_final
    assert results()[customers[-1]] is TransferStatus.WAITING and not TransferStatus.WAITING.is_final

    edge.clock.advance(24 * HOUR_S)
    final = results()
    assert final[refusing] is TransferStatus.REFUSED
    assert {s for ext, s in final.items() if ext != refusing} == {TransferStatus.COMPLETED}
    taken = set(edge.run(lambda api: api.customer_ids(heir)))
    assert set(final) - {refusing} <= taken
    left = {c.external_userid for c in edge.run(lambda api: api.unassigned_customers()) if c.handover_userid == member}
    assert left == {refusing, too_often}, "refused and never-transferred customers still await a successor"


def test_a_takeover_at_the_customer_limit_gets_status_4(edge: HandoverEdge) -> None:
    member = leaver(edge)
    heir = successor(edge, member)
    world = edge.world
    world.customer_limits[heir] = len(world.follows.get(heir, [])) + 1  # room for exactly one more
    customers = [ext for ext in world.follows[member] if ext not in world.too_often]
    edge.run(lambda api: api.transfer_resigned_customers(member, heir, customers))
    edge.clock.advance(25 * HOUR_S)
    final = statuses(edge.run(lambda api: api.resigned_transfer_results(member, heir)))
    (quick,) = world.quick & set(customers)
    (refusing,) = world.refusing & set(customers)
    assert final.pop(quick) is TransferStatus.COMPLETED  # accepted after 1 h, within the limit
    assert final.pop(refusing) is TransferStatus.REFUSED
    assert set(final.values()) == {TransferStatus.LIMIT_REACHED}


def test_on_job_transfers_are_batched_by_100_and_limited_to_2_per_90_days(edge: HandoverEdge) -> None:
    world = edge.world
    active = [e.userid for e in world.company.employees if world.active(e.userid)]
    giver, taker = active[0], active[1]
    book = [c.external_userid for c in world.company.customers if c.external_userid not in world.too_often]
    book = [ext for ext in book if ext not in world.follows.get(taker, [])][:150]
    world.assign_customers(giver, book)
    assert len(book) > TRANSFER_BATCH_LIMIT

    answers = edge.run(
        lambda api: api.transfer_customers(giver, taker, book, transfer_success_msg="您好，后续由我的同事为您服务。")
    )
    assert len(answers) == len(book) and all(a.accepted for a in answers)
    assert edge.calls("transfer_customer") == 2, "150 customers need two calls of at most 100"

    async def unbatched() -> None:
        async with edge.client() as client:
            body = {"handover_userid": giver, "takeover_userid": taker, "external_userid": book[:101]}
            await client.call("POST", "/cgi-bin/externalcontact/transfer_customer", body)

    with pytest.raises(WeComApiError) as too_many:
        asyncio.run(unbatched())
    assert too_many.value.errcode == 40058, "the simulator refuses 101 customers in one call, as WeCom does"

    with pytest.raises(ValueError, match="200 characters"):
        edge.run(lambda api: api.transfer_customers(giver, taker, book[:1], transfer_success_msg="长" * 201))

    customer = next(ext for ext in book if ext not in world.refusing)
    again = edge.run(lambda api: api.transfer_customers(giver, taker, [customer]))
    assert again[0].errcode == 40129, "a customer being transferred cannot be transferred again"

    edge.clock.advance(25 * HOUR_S)
    assert statuses(edge.run(lambda api: api.transfer_results(giver, taker)))[customer] is TransferStatus.COMPLETED
    back = edge.run(lambda api: api.transfer_customers(taker, giver, [customer]))
    assert back[0].accepted
    edge.clock.advance(25 * HOUR_S)
    third = edge.run(lambda api: api.transfer_customers(giver, taker, [customer]))
    assert third[0].errcode == 40128, "the third on-job transfer within 90 days is refused"


def test_departed_owners_groups_are_listed_read_and_inherited(edge: HandoverEdge) -> None:
    world = edge.world
    member = leaver(edge)
    heir = successor(edge, member)
    orphaned = [s.chat_id for s in edge.run(lambda api: api.group_chats(status_filter=1))]
    assert set(orphaned) == {c for c, owner in world.group_owner.items() if owner in world.departed}
    mine = [s.chat_id for s in edge.run(lambda api: api.group_chats(owner_userids=[member]))]
    assert mine and set(mine) <= set(orphaned)

    chat = edge.run(lambda api: api.group_chat(mine[0]))
    assert chat.owner == member and chat.members[0].userid == member
    assert {m.type for m in chat.members} == {1, 2} and all(m.name for m in chat.members)

    active_group = next(c for c, owner in world.group_owner.items() if owner not in {*world.departed, heir})
    answers = edge.run(lambda api: api.transfer_resigned_groups([*mine, active_group], heir))
    assert {a.item_id: a.errcode for a in answers} == {**dict.fromkeys(mine, 0), active_group: 90500}
    again = edge.run(lambda api: api.transfer_resigned_groups(mine, heir))
    assert {a.errcode for a in again} == {90508}
    inherited = {s.chat_id: s.status for s in edge.run(lambda api: api.group_chats(owner_userids=[heir]))}
    assert all(inherited[c] is GroupStatus.INHERITED for c in mine)

    others = [c for c in orphaned if c not in mine]  # the other departed member's groups
    assert others
    onjob = edge.run(lambda api: api.transfer_groups([active_group, others[0], mine[0]], heir))
    assert [a.errcode for a in onjob] == [0, 90502, 90504]


def test_rate_limits_are_retried_with_exponential_backoff(edge: HandoverEdge) -> None:
    edge.world.faults.rate_limited = 2
    assert edge.run(lambda api: api.unassigned_customers())
    assert edge.sleeps == [0.5, 1.0]

    edge.sleeps.clear()
    edge.world.faults.rate_limited, edge.world.faults.rate_limit_errcode = 100, 45033
    with pytest.raises(WeComTransientError) as raised:
        edge.run(lambda api: api.group_chats(), attempts=3)
    assert raised.value.retryable and raised.value.errcode == 45033
    assert edge.sleeps == [0.5, 1.0]


def test_an_expired_token_is_refreshed(edge: HandoverEdge) -> None:
    member = leaver(edge)

    async def twice(api: WeComContacts) -> tuple[list[str], list[str]]:
        first = await api.customer_ids(member)
        edge.clock.advance(ACCESS_TOKEN_TTL_S + 1)
        return first, await api.customer_ids(member)

    first, second = edge.run(twice)
    assert first == second
    assert edge.server.api_requests.count("/cgi-bin/gettoken") == 2


def test_call_level_errors_are_typed(edge: HandoverEdge) -> None:
    member = leaver(edge)
    customer = edge.world.follows[member][0]
    with pytest.raises(WeComRejectedError) as unknown_takeover:
        edge.run(lambda api: api.transfer_resigned_customers(member, "NoSuchMember", [customer]))
    assert unknown_takeover.value.errcode == 40003 and not unknown_takeover.value.retryable
    with pytest.raises(WeComConfigurationError) as wrong_secret:
        edge.run(lambda api: api.unassigned_customers(), secret="not-the-contact-secret")
    assert wrong_secret.value.errcode == 40001
    active = next(u for u, book in edge.world.follows.items() if book and edge.world.active(u))
    not_left = edge.run(
        lambda api: api.transfer_resigned_customers(active, successor(edge, member), edge.world.follows[active][:1])
    )
    assert [a.errcode for a in not_left] == [40097], "a member who has not left: per customer, not raised"
    assert edge.run(lambda api: api.transfer_resigned_customers(member, active, [])) == []


def test_synchronous_code_uses_the_blocking_facade(edge: HandoverEdge) -> None:
    with BlockingWeComClient(edge.client()) as blocking:
        found = blocking.run(lambda client: WeComContacts(client).unassigned_customers())
        again = blocking.run(lambda client: WeComContacts(client).group_chats(status_filter=1))
    assert found and again
    assert edge.server.api_requests.count("/cgi-bin/gettoken") == 1, "one token for the facade's life"


def test_a_group_failure_naming_no_requested_group_is_rechecked_not_dropped(edge: HandoverEdge) -> None:
    world = edge.world
    member = leaver(edge)
    heir = successor(edge, member)
    mine = [s.chat_id for s in edge.run(lambda api: api.group_chats(owner_userids=[member]))]
    active_group = next(c for c, owner in world.group_owner.items() if owner not in {*world.departed, heir})
    world.faults.garbled_failed_chat_ids = True

    answers = edge.run(lambda api: api.transfer_resigned_groups([*mine, active_group], heir))

    by_id = {a.item_id: a for a in answers}
    assert [a.item_id for a in answers[: len(mine) + 1]] == [*mine, active_group], "one answer per group, in order"
    assert all(by_id[c].accepted for c in mine), "read back: the heir owns them now"
    refused = by_id[active_group]
    assert not refused.accepted and refused.errcode == -2 and "owner did not change" in refused.reason
    unmatched = answers[len(mine) + 1 :]
    assert [(a.item_id, a.errcode) for a in unmatched] == [(active_group[:-4], 90500)], "reported, not dropped"
    assert edge.calls("groupchat/get") == len(mine) + 1, "every group not named by id was read back"
