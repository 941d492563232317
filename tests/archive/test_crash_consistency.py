"""Crash consistency: the puller is SIGKILLed at random points while it drains 20,000
messages; afterwards every msgid is stored exactly once and the cursor equals the
highest stored seq. Runs the real CLI (`wecom-audit pull --once`) as a process."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from archive.integrity.verify import verify
from archive.models import ArchiveCursor, ChatEnvelopeRow, Message, QuarantinedRecord
from archive.outbox.models import OutboxEntry
from archive.outbox.queue import ON_STORE
from tests.conftest import Edge

MESSAGES = 20_000
KILLS = 20


def cursor_of(edge: Edge) -> int:
    with edge.database.sessions() as session:
        cursor = session.get(ArchiveCursor, edge.simulator.corp_id)
        return cursor.seq if cursor else 0


def test_sigkill_at_random_points_loses_and_duplicates_nothing(edge: Edge) -> None:
    edge.simulator.populate(MESSAGES, messages_per_day=200_000, rotate_after=MESSAGES // 2)
    edge.register_keys()
    top = edge.simulator.store.max_seq()
    rng = random.Random(20261123)
    env = {**edge.env(), "WECOM_AUDIT_SDK__PULL_LIMIT": "500"}
    command = [sys.executable, "-m", "api.cli", "pull", "--once"]

    kills = kills_mid_drain = 0
    for attempt in range(KILLS):
        before = cursor_of(edge)
        assert before < top, "drained before all kills were made: use more messages"
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        # Short random delays: a fast machine drains about 1,500 messages a second, and the 20
        # kills must all land before the 20,000 are in.
        if attempt % 4 == 0:
            time.sleep(rng.uniform(0.05, 1.5))  # anywhere, start-up included
        else:
            # Once the first batch is in, at a random point of the following one.
            deadline = time.monotonic() + 60
            while cursor_of(edge) == before and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
        os.killpg(process.pid, signal.SIGKILL)  # the puller and its SDK worker, mid-whatever
        process.wait()
        kills += 1
        if before < cursor_of(edge) < top:
            kills_mid_drain += 1
    assert kills == KILLS
    assert kills_mid_drain >= KILLS // 2, f"only {kills_mid_drain} kills landed while draining"

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]

    with edge.database.sessions() as session:
        envelopes = session.scalar(select(func.count()).select_from(ChatEnvelopeRow))
        distinct_envelopes = session.scalar(select(func.count(func.distinct(ChatEnvelopeRow.msgid))))
        messages = session.scalar(select(func.count()).select_from(Message))
        distinct_messages = session.scalar(select(func.count(func.distinct(Message.msgid))))
        quarantined = session.scalar(select(func.count()).select_from(QuarantinedRecord))
        max_seq = session.scalar(select(func.max(ChatEnvelopeRow.seq)))
        cursor = session.get(ArchiveCursor, edge.simulator.corp_id)
    assert envelopes == distinct_envelopes == MESSAGES
    assert messages == distinct_messages == MESSAGES
    assert quarantined == 0
    assert cursor is not None and cursor.seq == max_seq == top
    # No kill left a gap, a fork or an unlinked message in the integrity chain either.
    chain = verify(edge.database.sessions, edge.simulator.corp_id, checkpoint_file=edge.settings.data_dir / "cp.jsonl")
    assert chain.ok, chain.broken
    assert chain.links_checked == MESSAGES
    # ...and every stored message is queued exactly once for the first downstream stage.
    # (Detection passes it on to search: store → detect → index, ADR 0007.)
    with edge.database.sessions() as session:
        message_ids = set(session.scalars(select(Message.id)))
        for consumer in ON_STORE:
            queued = [
                i
                for ids in session.scalars(select(OutboxEntry.message_ids).where(OutboxEntry.consumer == consumer))
                for i in ids
            ]
            assert len(queued) == len(set(queued)) == MESSAGES, consumer
            assert set(queued) == message_ids, consumer
