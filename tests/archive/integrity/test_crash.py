"""A puller SIGKILLed mid-batch never leaves a broken chain: batches and their links
commit together or not at all. Runs the real CLI (`wecom-audit pull --once`)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from archive.integrity.models import ChainLink
from archive.models import ArchiveCursor
from tests.archive.integrity.helpers import run_verify
from tests.conftest import Edge

MESSAGES = 4_000
KILLS = 6


def cursor_of(edge: Edge) -> int:
    with edge.database.sessions() as session:
        cursor = session.get(ArchiveCursor, edge.simulator.corp_id)
        return cursor.seq if cursor else 0


def test_sigkill_mid_batch_leaves_a_chain_that_verifies(edge: Edge) -> None:
    edge.simulator.populate(MESSAGES, messages_per_day=200_000)
    edge.register_keys()
    rng = random.Random(3)
    env = {**edge.env(), "WECOM_AUDIT_SDK__PULL_LIMIT": "200"}
    command = [sys.executable, "-m", "api.cli", "pull", "--once"]
    killed = 0
    for _ in range(KILLS):
        before = cursor_of(edge)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while cursor_of(edge) == before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the puller and its SDK worker
            killed += 1
        else:  # a fast machine drained what was left before the kill: that run must have succeeded
            assert process.returncode == 0
        process.wait()
        report = run_verify(edge)
        assert report.ok, report.broken
    assert killed >= 1, "no kill landed mid-pull"

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]

    report = run_verify(edge)
    assert report.ok, report.broken
    assert report.links_checked == MESSAGES
    with edge.database.sessions() as session:
        assert session.scalar(select(func.count(func.distinct(ChainLink.msgid)))) == MESSAGES
