"""`wecom-audit demo`: the simulated company on WeCom's side, wecom-audit on ours.

Starts the simulator's server, builds and points the fake Finance SDK at it, registers
the simulated corp's private keys as an admin would (``keys add``), and runs the normal
scheduler on the embedded defaults — everything past the vendor edge is production code.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from pydantic import SecretStr
from rich.console import Console

from api.context import AppContext
from archive.clock import utcnow
from archive.directory.service import sync_directory
from archive.simulator.directory_feed import directory_of
from archive.simulator.fakesdk import build_fake_sdk
from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import SimulatorServer
from config.database import session_scope
from config.settings import CorpSettings, Settings


@dataclass
class DemoEnvironment:
    simulator: SimulatedWeCom
    server: SimulatorServer
    context: AppContext


def prepare_demo(settings: Settings, console: Console) -> DemoEnvironment:
    sim_settings = settings.simulator
    simulator = SimulatedWeCom(settings.data_dir / "simulator", seed=sim_settings.seed)
    if simulator.store.count() == 0:
        history = int(sim_settings.history_days * sim_settings.messages_per_day)
        console.print(f"Simulating up to {history:,} messages of chat history for {simulator.company.name}…")
        simulator.populate(
            history, messages_per_day=sim_settings.messages_per_day, rotate_after=int(history * 0.6), stop_at_end=True
        )
    server = SimulatorServer(
        simulator.store,
        corp_id=simulator.corp_id,
        secret=simulator.archive_secret,
        host=sim_settings.host,
        port=sim_settings.port,
    ).start()
    # The fake SDK (in the worker process) finds the simulated WeCom through this variable.
    os.environ["WECOM_FAKE_SDK_URL"] = server.url
    settings.wecom = CorpSettings(
        corp_id=simulator.corp_id, archive_secret=SecretStr(simulator.archive_secret), api_base_url=server.url
    )
    settings.sdk.library_path = build_fake_sdk()
    context = AppContext(settings)
    context.migrate()
    departments, members = directory_of(simulator.company)
    with session_scope(context.session_factory) as session:
        sync_directory(session, simulator.corp_id, departments, members, utcnow())
    registered = set(context.keyring(simulator.corp_id).versions())
    for pair in simulator.key_pairs():
        if pair.version not in registered:
            context.key_store.add(simulator.corp_id, pair.version, pair.private_pem())
    return DemoEnvironment(simulator, server, context)


class LiveTraffic:
    """Keeps the simulated company chatting while the demo runs."""

    def __init__(self, simulator: SimulatedWeCom, messages_per_minute: int) -> None:
        self.simulator = simulator
        self.messages_per_day = messages_per_minute * 1440
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.simulator.generate_until(int(time.time() * 1000), messages_per_day=self.messages_per_day)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
