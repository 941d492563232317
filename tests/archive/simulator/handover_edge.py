"""The simulated WeCom with its handover world on a real loopback server, for tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from archive.simulator.handover import HandoverWorld, SimulatorClock
from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import SimulatorServer
from archive.wecom.client import WeComClient
from archive.wecom.contacts import WeComContacts

START_MS = 1_700_000_000_000
_T = TypeVar("_T")


@dataclass
class HandoverEdge:
    simulator: SimulatedWeCom
    server: SimulatorServer
    world: HandoverWorld
    clock: SimulatorClock
    sleeps: list[float] = field(default_factory=list)

    def run(
        self,
        scenario: Callable[[WeComContacts], Awaitable[_T]],
        *,
        secret: str | None = None,
        attempts: int = 4,
    ) -> _T:
        """Run ``scenario`` with a fresh client of the customer-contact API."""

        async def with_client() -> _T:
            async with self.client(secret=secret, attempts=attempts) as client:
                return await scenario(WeComContacts(client))

        return asyncio.run(with_client())

    def client(self, *, secret: str | None = None, attempts: int = 4) -> WeComClient:

        async def record(delay: float) -> None:
            self.sleeps.append(delay)  # the backoff, observed instead of waited for

        return WeComClient(
            self.server.url,
            self.simulator.corp_id,
            self.world.contact_secret if secret is None else secret,
            timeout_s=5,
            retry_attempts=attempts,
            retry_backoff_s=0.5,
            sleep=record,
        )

    def calls(self, path: str) -> int:
        return self.server.api_requests.count(f"/cgi-bin/externalcontact/{path}")


@contextmanager
def handover_edge(tmp_path: Path) -> Iterator[HandoverEdge]:
    simulator = SimulatedWeCom(tmp_path / "simulator", seed=11)
    clock = SimulatorClock(START_MS)
    server = SimulatorServer(
        simulator.store, corp_id=simulator.corp_id, secret=simulator.archive_secret, clock_ms=clock.now_ms
    ).start()
    world = HandoverWorld.build(simulator.company, clock.now_ms()).install(server)
    try:
        yield HandoverEdge(simulator, server, world, clock)
    finally:
        server.stop()
        simulator.close()
