"""A killed puller's run does not stay "running" forever: `status` closes it as
interrupted once its lease has expired, and the next puller closes it at once (it holds
the lease, so nobody else can be running). Runs the real CLI as a process and SIGKILLs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import select

from archive import repository
from archive.clock import utcnow
from archive.models import ArchiveCursor, PullRun
from archive.status import collect_status
from tests.conftest import Edge

LEASE_TTL = timedelta(seconds=120)  # the puller's default


def kill_mid_pull(edge: Edge, env: dict[str, str]) -> None:
    with edge.database.sessions() as session:
        before = session.get(ArchiveCursor, edge.simulator.corp_id)
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "pull", "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with edge.database.sessions() as session:
            cursor = session.get(ArchiveCursor, edge.simulator.corp_id)
            if cursor is not None and (before is None or cursor.seq > before.seq):
                break
        time.sleep(0.02)
    assert process.poll() is None, "the pull finished before it could be killed: use more messages"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def runs(edge: Edge) -> list[PullRun]:
    with edge.database.sessions() as session:
        return list(session.scalars(select(PullRun).order_by(PullRun.id)))


def test_a_killed_pull_is_closed_as_interrupted_not_running_forever(edge: Edge) -> None:
    edge.simulator.populate(20_000, messages_per_day=200_000)
    edge.register_keys()
    env = {**edge.env(), "WECOM_AUDIT_SDK__PULL_LIMIT": "200"}
    corp_id = edge.simulator.corp_id

    kill_mid_pull(edge, env)
    [killed] = runs(edge)
    assert killed.status == "running" and killed.finished_at is None

    with edge.database.sessions() as session:
        last_run = collect_status(session, corp_id, utcnow()).last_run
        assert last_run is not None and last_run.status == "running", "lease still valid"
    with edge.database.sessions() as session:
        after_expiry = utcnow() + LEASE_TTL + timedelta(seconds=1)
        shown = collect_status(session, corp_id, after_expiry).last_run
        assert shown is not None and shown.status == repository.RUN_INTERRUPTED
        session.commit()
    [closed] = runs(edge)
    assert closed.status == "interrupted" and closed.finished_at is not None
    assert closed.error_code == "interrupted" and "kept" in (closed.error or "")

    # Killed again: the next puller takes over the dead holder's lease and closes the run itself.
    kill_mid_pull(edge, env)
    assert [run.status for run in runs(edge)] == ["interrupted", "running"]
    final = subprocess.run(
        [sys.executable, "-m", "api.cli", "pull", "--once"], env=env, capture_output=True, text=True, timeout=600
    )
    assert final.returncode == 0, final.stderr[-2000:]
    assert [run.status for run in runs(edge)] == ["interrupted", "interrupted", "completed"]
