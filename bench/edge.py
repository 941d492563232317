"""What both benchmarks need: the simulated WeCom served from its own process (as WeCom's
servers would be, so its CPU is not charged to our process) and a fresh wecom-audit wired
to it on SQLite, with the corp's keys registered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from api.context import AppContext
from archive.simulator.fakesdk import build_fake_sdk
from archive.simulator.runtime import SimulatedWeCom
from config.settings import CorpSettings, DatabaseSettings, SdkSettings, Settings


def serve_simulator(data_dir: Path, seed: int) -> subprocess.Popen[str]:
    """Start ``python -m archive.simulator serve`` and point the fake SDK at it."""
    command = [sys.executable, "-m", "archive.simulator", "serve", str(data_dir), "--seed", str(seed), "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    os.environ["WECOM_FAKE_SDK_URL"] = json.loads(server.stdout.readline())["url"]
    return server


def archive_for(simulator: SimulatedWeCom, workdir: Path) -> AppContext:
    """A new SQLite archive for the simulated corp, migrated, its private keys registered."""
    database = workdir / "bench.db"
    database.unlink(missing_ok=True)
    settings = Settings(
        data_dir=workdir / "data",
        database=DatabaseSettings(url=f"sqlite:///{database}"),
        wecom=CorpSettings(corp_id=simulator.corp_id, archive_secret=simulator.archive_secret),
        sdk=SdkSettings(library_path=build_fake_sdk()),
    )
    context = AppContext(settings)
    context.migrate()
    for pair in simulator.key_pairs():
        context.key_store.add(simulator.corp_id, pair.version, pair.private_pem(), replace=True)
    return context
