"""The simulated company with its directory API on a real loopback server, an archive of its
chats (internal groups and robots are found there) and wecom-audit's settings for both
secrets: what the directory sync tests run against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest
from pydantic import SecretStr

from archive.directory.jobs import run_sync
from archive.directory.sync import DirectorySyncReport
from archive.simulator.directory import DirectoryWorld
from archive.simulator.handover import HandoverWorld
from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import SimulatorServer
from config.settings import CorpSettings, DatabaseSettings, SdkSettings, Settings
from tests.clock import weekday_afternoon_before
from tests.conftest import Database, Edge

# Fast enough for tests; the pacing itself is tested with a fake clock.
TEST_CALLS_PER_MINUTE: Final = 600_000


@dataclass
class DirectoryEdge(Edge):
    handover: HandoverWorld
    directory: DirectoryWorld

    @property
    def corp_id(self) -> str:
        return self.simulator.corp_id

    def sync(self, trigger: str = "test") -> DirectorySyncReport:
        context = self.context()
        return run_sync(
            context.session_factory, self.settings.wecom, calls_per_minute=TEST_CALLS_PER_MINUTE, trigger=trigger
        )


@contextmanager
def open_directory_edge(
    database: Database, fake_sdk_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, messages: int = 400
) -> Iterator[DirectoryEdge]:
    simulator = SimulatedWeCom(tmp_path / "simulator", seed=11)
    server = SimulatorServer(simulator.store, corp_id=simulator.corp_id, secret=simulator.archive_secret).start()
    try:
        handover = HandoverWorld.build(simulator.company, server.clock_ms()).install(server)
        directory = DirectoryWorld(handover).install(server)
        monkeypatch.setenv("WECOM_FAKE_SDK_URL", server.url)
        settings = Settings(
            data_dir=tmp_path / "data",
            database=DatabaseSettings(url=database.url),
            wecom=CorpSettings(
                corp_id=simulator.corp_id,
                archive_secret=SecretStr(simulator.archive_secret),
                contact_secret=SecretStr(handover.contact_secret),
                api_base_url=server.url,
            ),
            sdk=SdkSettings(library_path=fake_sdk_library, retry_backoff_s=0.01, timeout_s=5),
        )
        edge = DirectoryEdge(simulator, server, settings, database, handover, directory)
        if messages:
            end = weekday_afternoon_before(datetime.now(UTC))
            simulator.populate(messages, end_ms=int(end.timestamp() * 1000), messages_per_day=20_000, stop_at_end=True)
            edge.register_keys()
            assert edge.context().puller(simulator.corp_id).run().status == "completed"
        yield edge
    finally:
        server.stop()
        simulator.close()
