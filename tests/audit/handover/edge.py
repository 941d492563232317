"""The simulated company with its handover world, an archive of its chats and wecom-audit
wired to both: what the ``handover_edge`` fixture (tests/conftest.py) yields.

Timeline (the simulator's clock): the chats are archived up to ``ARCHIVE_DAYS_BEFORE``
days before "now" (both simulated leavers left later: 3 and 10 days before now), the
members' deletions of customers before leaving reach wecom-audit through its real
callback endpoint, and the directory no longer lists the departed members (as WeCom's
address book would not). Then the clock stands at ``START_MS``: "now".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypeVar

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr

from api.app import create_app
from archive.clock import utcnow
from archive.directory.service import sync_directory
from archive.simulator.directory_feed import directory_of
from archive.simulator.handover import HandoverWorld, SimulatorClock
from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import SimulatorServer
from archive.wecom.callback_crypto import CallbackCrypto
from archive.wecom.client import WeComClient
from archive.wecom.contacts import WeComContacts
from config.database import session_scope
from config.settings import CallbackSettings, CorpSettings, DatabaseSettings, SdkSettings, Settings
from tests.archive.simulator.handover_edge import START_MS
from tests.conftest import Database, Edge

DAY_MS: Final = 86_400_000
ARCHIVE_DAYS_BEFORE: Final = 12
ARCHIVE_MESSAGES: Final = 1500
ARCHIVE_MESSAGES_PER_DAY: Final = 1000  # the chats span ~3 days: inside the simulator's 5-day retention
CALLBACK_TOKEN: Final = "handoverToken"
CALLBACK_AES_KEY: Final = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
_T = TypeVar("_T")


@dataclass
class HandoverWorldEdge(Edge):
    """``Edge`` plus the handover world (``world.departed``, ``world.follows``,
    ``world.deletions``, ``world.group_owner``) and the simulator's clock."""

    world: HandoverWorld
    clock: SimulatorClock
    sleeps: list[float] = field(default_factory=list)  # client backoffs, observed not waited

    @property
    def corp_id(self) -> str:
        return self.simulator.corp_id

    def now(self) -> datetime:
        """The simulated "now" (pass it as ``now`` to the handover services)."""
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, UTC)

    def leavers(self) -> list[str]:
        """The departed members, most recent departure first."""
        return sorted(self.world.departed, key=lambda userid: -self.world.departed[userid])

    def client(self, *, attempts: int = 4) -> WeComClient:
        """A client of the customer-contact API with the contact secret (use ``async with``)."""

        async def record(delay: float) -> None:
            self.sleeps.append(delay)

        return WeComClient(
            self.server.url,
            self.corp_id,
            self.world.contact_secret,
            timeout_s=5,
            retry_attempts=attempts,
            retry_backoff_s=0.5,
            sleep=record,
        )

    def run(self, scenario: Callable[[WeComContacts], Awaitable[_T]], *, attempts: int = 4) -> _T:
        """Run ``scenario`` with a fresh customer-contact client (in a new event loop)."""

        async def with_client() -> _T:
            async with self.client(attempts=attempts) as client:
                return await scenario(WeComContacts(client))

        return asyncio.run(with_client())


@contextmanager
def open_handover_edge(
    database: Database,
    fake_sdk_library: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    messages: int = ARCHIVE_MESSAGES,
) -> Iterator[HandoverWorldEdge]:
    simulator = SimulatedWeCom(tmp_path / "simulator", seed=11)
    clock = SimulatorClock(START_MS - ARCHIVE_DAYS_BEFORE * DAY_MS)
    server = SimulatorServer(
        simulator.store, corp_id=simulator.corp_id, secret=simulator.archive_secret, clock_ms=clock.now_ms
    ).start()
    try:
        world = HandoverWorld.build(simulator.company, START_MS).install(server)
        monkeypatch.setenv("WECOM_FAKE_SDK_URL", server.url)
        settings = Settings(
            data_dir=tmp_path / "data",
            database=DatabaseSettings(url=database.url),
            wecom=CorpSettings(
                corp_id=simulator.corp_id,
                archive_secret=SecretStr(simulator.archive_secret),
                contact_secret=SecretStr(world.contact_secret),
                api_base_url=server.url,
            ),
            sdk=SdkSettings(library_path=fake_sdk_library, retry_backoff_s=0.01, timeout_s=5),
            callback=CallbackSettings(token=SecretStr(CALLBACK_TOKEN), encoding_aes_key=SecretStr(CALLBACK_AES_KEY)),
        )
        edge = HandoverWorldEdge(simulator, server, settings, database, world, clock)
        _archive(edge, messages)
        _deliver_departure_deletions(edge)
        clock.advance(ARCHIVE_DAYS_BEFORE * DAY_MS / 1000)
        yield edge
    finally:
        server.stop()
        simulator.close()


def _archive(edge: HandoverWorldEdge, messages: int) -> None:
    edge.simulator.populate(
        messages, end_ms=edge.clock.now_ms(), messages_per_day=ARCHIVE_MESSAGES_PER_DAY, stop_at_end=True
    )
    edge.register_keys()
    context = edge.context()
    try:
        report = context.puller(edge.corp_id).run()
        assert report.status == "completed", report
        departments, members = directory_of(edge.simulator.company)
        staying = [m for m in members if m.userid not in edge.world.departed]
        for listed in (members, staying):  # the directory knew the leavers before they left
            with session_scope(context.session_factory) as session:
                sync_directory(session, edge.corp_id, departments, listed, utcnow())
    finally:
        context.close()


def _deliver_departure_deletions(edge: HandoverWorldEdge) -> None:
    """The ``del_external_contact`` callbacks, POSTed to wecom-audit's callback endpoint."""
    edge.world.callbacks.configure(CallbackCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, edge.corp_id))
    edge.world.send_departure_deletions()
    context = edge.context()
    try:
        with TestClient(app=create_app(context)) as client:
            for delivery in edge.world.callbacks.deliveries:
                response = client.post("/wecom/callback", params=delivery.params, content=delivery.body)
                assert response.status_code == 200, response.text
    finally:
        context.close()
