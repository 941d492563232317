"""The chain grows with every stored batch and verifies; checkpoints anchor it in the
database and in an append-only file."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import event, func, select

from archive.clock import utcnow
from archive.integrity import canonical, chain, repository
from archive.integrity.errors import ChainConflictError
from archive.integrity.jobs import checkpoint_all
from archive.integrity.models import ChainCheckpoint, ChainHead, ChainLink
from archive.models import Message
from archive.quarantine import retry_quarantine
from config.database import session_scope
from tests.archive.integrity.helpers import checkpoint_file, pull, run_verify, store_unchained
from tests.conftest import Edge


def test_every_pulled_message_is_chained_and_the_chain_verifies(edge: Edge) -> None:
    pull(edge, 300)

    report = run_verify(edge)

    assert report.ok, report.broken
    assert report.head_position == report.links_checked == report.messages_checked == 300
    with edge.database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 300
        positions = list(session.scalars(select(ChainLink.position).order_by(ChainLink.position)))
        head = session.get(ChainHead, edge.simulator.corp_id)
        last_hash = session.scalar(select(ChainLink.record_hash).where(ChainLink.position == 300))
    assert positions == list(range(1, 301))
    assert head is not None and (head.position, head.head_hash) == (300, last_hash)


def test_verify_writes_a_checkpoint_to_the_database_and_the_file(edge: Edge) -> None:
    pull(edge, 200)

    first = run_verify(edge)
    again = run_verify(edge)

    assert first.checkpoint is not None and first.checkpoint.position == 200
    assert again.ok and again.checkpoint is None, "an unchanged chain is not checkpointed twice"
    assert again.checkpoints_checked == 2  # the row and the file line
    lines = [json.loads(line) for line in checkpoint_file(edge).read_text().splitlines()]
    with edge.database.sessions() as session:
        row = session.scalars(select(ChainCheckpoint)).one()
    assert lines == [
        {
            "id": row.id,
            "corp_id": edge.simulator.corp_id,
            "position": 200,
            "last_seq": row.last_seq,
            "head_hash": row.head_hash,
            "count": 200,
            "created_at": row.created_at.isoformat(),
        }
    ]


def test_messages_recovered_from_quarantine_are_appended(edge: Edge) -> None:
    edge.simulator.populate(300, messages_per_day=20_000, rotate_after=100)  # v1 then v2
    edge.register_keys(versions=[1])
    context = edge.context()
    corp_id = edge.simulator.corp_id
    assert context.puller(corp_id).run().quarantined == 200
    assert run_verify(edge).head_position == 100

    edge.register_keys(versions=[2])
    assert retry_quarantine(corp_id, context.source(corp_id), edge.database.sessions).recovered == 200
    context.close()

    report = run_verify(edge)
    assert report.ok, report.broken
    assert report.links_checked == 300 and report.checkpoints_checked == 2


def test_a_racing_appender_is_refused_and_the_chain_does_not_fork(edge: Edge) -> None:
    pull(edge, 50)
    corp_id = edge.simulator.corp_id
    winner, loser = store_unchained(edge, "race_a"), store_unchained(edge, "race_b")
    raced: list[bool] = []

    def append_first(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        """Just before the loser moves the head, the winner appends and commits."""
        if "chain_heads" in statement and statement.lstrip().upper().startswith("UPDATE") and not raced:
            raced.append(True)
            with session_scope(edge.database.sessions) as session:
                chain.append(session, corp_id, winner, utcnow())

    with edge.database.sessions() as session:
        event.listen(session.connection(), "before_cursor_execute", append_first)
        with pytest.raises(ChainConflictError) as caught:
            chain.append(session, corp_id, loser, utcnow())
        session.rollback()
    assert raced and caught.value.retryable

    with session_scope(edge.database.sessions) as session:  # the loser's retry
        chain.append(session, corp_id, loser, utcnow())
    report = run_verify(edge)
    assert report.ok, report.broken
    assert report.links_checked == 52


def test_the_encoding_is_python_json_with_sorted_keys(edge: Edge) -> None:
    """Anyone can recompute a record hash with nothing but a JSON library and SHA-256."""
    pull(edge, 120)
    with edge.database.sessions() as session:
        ids = list(session.scalars(select(ChainLink.message_id).order_by(ChainLink.position)))
        links = list(session.scalars(select(ChainLink).order_by(ChainLink.position)))
        evidence = repository.read_evidence(session, edge.simulator.corp_id, [i for i in ids if i])
    for link in links:
        record, recipients = evidence[link.message_id or 0]
        document = canonical.record_document(edge.simulator.corp_id, link.position, record, recipients)
        encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert encoded == canonical.encode(document)
        assert hashlib.sha256(link.prev_hash.encode() + encoded).hexdigest() == link.record_hash


def test_the_checkpoint_job_checkpoints_each_chain_once_per_change(edge: Edge) -> None:
    pull(edge, 60)
    corp_id = edge.simulator.corp_id

    first = checkpoint_all(edge.database.sessions, edge.settings)
    unchanged = checkpoint_all(edge.database.sessions, edge.settings)
    pull(edge, 10)
    moved = checkpoint_all(edge.database.sessions, edge.settings)

    assert (written := first[corp_id]) is not None and written.position == 60
    assert unchanged == {corp_id: None}
    assert (written := moved[corp_id]) is not None and written.position == 70
    assert len(checkpoint_file(edge).read_text().splitlines()) == 2
    assert run_verify(edge).checkpoints_checked == 4
