"""The consent client (msgaudit/check_single_agree, check_room_agree) against the simulated
WeCom's real HTTP server: answers that follow the company's agree/disagree messages,
batches of at most 100 pairs, 301060/301061 as typed errors, unknown pairs isolated."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from archive.simulator.consent import ConsentWorld, consent_notes
from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import SimulatorServer
from archive.wecom.client import WeComClient
from archive.wecom.consent import (
    SINGLE_AGREE_BATCH_LIMIT,
    ConsentPair,
    ConsentPartyNotFound,
    ConsentQueryTooLarge,
    WeComConsent,
)
from archive.wecom.errors import WeComConfigurationError

T = TypeVar("T")
BASELINE_MS = 1_690_000_000_000
DISAGREE_MS = 1_700_000_000_123


@dataclass
class ConsentEdge:
    simulator: SimulatedWeCom
    server: SimulatorServer
    world: ConsentWorld

    def run(self, scenario: Callable[[WeComConsent], Awaitable[T]]) -> T:
        async def with_client() -> T:
            client = WeComClient(self.server.url, self.simulator.corp_id, self.simulator.archive_secret, timeout_s=5)
            async with client:
                return await scenario(WeComConsent(client))

        return asyncio.run(with_client())

    def calls(self, path: str) -> int:
        return self.server.api_requests.count(f"/cgi-bin/msgaudit/{path}")


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[ConsentEdge]:
    simulator = SimulatedWeCom(tmp_path / "simulator", seed=11)
    server = SimulatorServer(simulator.store, corp_id=simulator.corp_id, secret=simulator.archive_secret).start()
    world = ConsentWorld(simulator, baseline_ms=BASELINE_MS).install(server)
    try:
        yield ConsentEdge(simulator, server, world)
    finally:
        server.stop()
        simulator.close()


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC)


def test_single_agree_answers_what_the_archived_messages_imply(edge: ConsentEdge) -> None:
    userid, external = edge.world.story_pair()
    other = next(c for c in edge.simulator.company.customers if c.type == 2)
    edge.world.change(userid, external, "Disagree", DISAGREE_MS)
    pairs = [ConsentPair(userid, external), ConsentPair(userid, other.external_userid)]

    answers = edge.run(lambda api: api.check_single_agree(pairs))

    by_pair = {(a.userid, a.external_userid): (a.status, a.changed_at) for a in answers}
    assert by_pair == {
        (userid, external): ("Disagree", at(DISAGREE_MS)),
        # No message for this pair: agreed before the history began (a WeCom user: Default_Agree).
        (userid, other.external_userid): ("Default_Agree", at(BASELINE_MS)),
    }
    edge.world.change(userid, external, "Agree", DISAGREE_MS + 60_000)
    again = edge.run(lambda api: api.check_single_agree(pairs[:1]))
    assert [(a.status, a.changed_at) for a in again] == [("Agree", at(DISAGREE_MS + 60_000))]


def test_more_than_100_pairs_go_in_batches(edge: ConsentEdge) -> None:
    company = edge.simulator.company
    pairs = [ConsentPair(e.userid, c.external_userid) for e in company.employees[:2] for c in company.customers[:125]]
    assert len(pairs) == 250

    answers = edge.run(lambda api: api.check_single_agree(pairs))

    assert len(answers) == 250
    assert {(a.userid, a.external_userid) for a in answers} == {(p.userid, p.external_userid) for p in pairs}
    assert edge.calls("check_single_agree") == 3  # 100 + 100 + 50


def test_a_batch_over_the_limit_is_a_typed_error(edge: ConsentEdge) -> None:
    company = edge.simulator.company
    pairs = [ConsentPair(company.employees[0].userid, c.external_userid) for c in company.customers[:101]]
    with pytest.raises(ConsentQueryTooLarge) as error:
        edge.run(lambda api: api.check_single_agree(pairs, batch_size=SINGLE_AGREE_BATCH_LIMIT + 1))
    assert error.value.errcode == 301060


def test_an_unknown_customer_fails_its_call_and_check_pairs_isolates_it(edge: ConsentEdge) -> None:
    company = edge.simulator.company
    member = company.employees[0].userid
    known = [ConsentPair(member, c.external_userid) for c in company.customers[:40]]
    stranger = ConsentPair(member, "wmNOSUCHCUSTOMER000000000000000000")
    with pytest.raises(ConsentPartyNotFound) as error:
        edge.run(lambda api: api.check_single_agree([*known, stranger]))
    assert error.value.errcode == 301061

    answer = edge.run(lambda api: api.check_pairs([*known[:20], stranger, *known[20:]]))

    assert answer.not_found == (stranger,)
    assert {a.external_userid for a in answer.answers} == {p.external_userid for p in known}


def test_room_agree_lists_the_external_members(edge: ConsentEdge) -> None:
    company = edge.simulator.company
    customers = {c.external_userid for c in company.customers}
    group = next(g for g in company.groups if g.kind == "customer" and customers & set(g.members))

    answers = edge.run(lambda api: api.check_room_agree(group.roomid))

    assert {a.external_userid for a in answers} == customers & set(group.members)
    assert all(a.userid is None and a.status in ("Agree", "Default_Agree") for a in answers)
    with pytest.raises(ConsentPartyNotFound):
        edge.run(lambda api: api.check_room_agree("wrNOSUCHROOM"))


def test_archive_not_enabled_is_a_configuration_error(edge: ConsentEdge) -> None:
    edge.server.faults.msgaudit_errcode = 301053
    company = edge.simulator.company
    with pytest.raises(WeComConfigurationError) as error:
        edge.run(
            lambda api: api.check_single_agree(
                [ConsentPair(company.employees[0].userid, company.customers[0].external_userid)]
            )
        )
    assert error.value.errcode == 301053


def test_generated_agree_and_disagree_messages_and_the_api_agree(edge: ConsentEdge) -> None:
    edge.simulator.populate(4000, messages_per_day=20_000)
    notes = [n for n in consent_notes(edge.simulator.store) if n.scope == "single"]
    assert {n.status for n in notes} == {"Agree", "Disagree"}, "the company generates both answers"
    latest: dict[ConsentPair, tuple[str, datetime]] = {}
    for note in sorted(notes, key=lambda n: n.time_ms):
        latest[ConsentPair(note.party, note.external_userid)] = (note.status, at(note.time_ms))

    answers = edge.run(lambda api: api.check_single_agree(sorted(latest)))

    assert {ConsentPair(a.userid or "", a.external_userid): (a.status, a.changed_at) for a in answers} == latest
