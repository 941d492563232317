"""Retention's side of the chain: messages disposed of through ``mark_disposed`` leave
tombstones and the chain still verifies; a deletion without one is caught."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import Connection, select, text

from archive.clock import utcnow
from archive.integrity import chain
from archive.integrity.errors import UnlinkedMessageError
from archive.integrity.models import ChainLink
from archive.integrity.verify import Check
from config.database import session_scope
from tests.archive.integrity.helpers import link_at, pull, run_verify, store_unchained
from tests.conftest import Edge

POLICY = "retention:chats-3y"


def delete_messages(connection: Connection, message_ids: Sequence[int]) -> None:
    """What retention deletes: recipients, the message, then its envelope."""
    for message_id in message_ids:
        envelope_id = connection.scalar(text("SELECT envelope_id FROM messages WHERE id = :id"), {"id": message_id})
        connection.execute(text("DELETE FROM message_recipients WHERE message_id = :id"), {"id": message_id})
        connection.execute(text("DELETE FROM messages WHERE id = :id"), {"id": message_id})
        connection.execute(text("DELETE FROM chat_envelopes WHERE id = :id"), {"id": envelope_id})


def test_disposed_messages_leave_tombstones_and_the_chain_verifies(edge: Edge) -> None:
    pull(edge, 200)
    assert run_verify(edge).ok  # checkpointed before the disposal
    disposed = [link_at(edge, position) for position in range(10, 40)]

    with session_scope(edge.database.sessions) as session:
        chain.mark_disposed(session, edge.simulator.corp_id, [link.message_id for link in disposed], POLICY, utcnow())
        delete_messages(session.connection(), [link.message_id for link in disposed])
    report = run_verify(edge)

    assert report.ok, report.broken
    assert (report.links_checked, report.messages_checked, report.tombstones) == (200, 170, 30)
    with edge.database.sessions() as session:
        tombstones = list(session.scalars(select(ChainLink).where(ChainLink.disposed_at.is_not(None))))
    assert [(t.position, t.msgid, t.seq) for t in tombstones] == [(d.position, d.msgid, d.seq) for d in disposed]
    assert all(t.message_id is None and t.disposal_policy == POLICY for t in tombstones)


def test_deleting_a_message_without_a_tombstone_is_caught(edge: Edge) -> None:
    pull(edge, 100)
    target = link_at(edge, 30)

    with edge.database.engine.begin() as connection:
        delete_messages(connection, [target.message_id])
    broken = run_verify(edge).broken

    assert broken is not None
    assert (broken.check, broken.position, broken.msgid) == (Check.MESSAGE_MISSING, 30, target.msgid)


def test_a_tombstone_whose_message_was_kept_is_caught(edge: Edge) -> None:
    pull(edge, 100)
    target = link_at(edge, 30)

    with session_scope(edge.database.sessions) as session:
        chain.mark_disposed(session, edge.simulator.corp_id, [target.message_id], POLICY, utcnow())
    broken = run_verify(edge).broken

    assert broken is not None and (broken.check, broken.position) == (Check.DISPOSED_PRESENT, 30)


def test_a_message_without_a_link_cannot_be_disposed_of(edge: Edge) -> None:
    pull(edge, 20)
    (forged,) = store_unchained(edge, "forged")
    target = link_at(edge, 5)

    with pytest.raises(UnlinkedMessageError), session_scope(edge.database.sessions) as session:
        chain.mark_disposed(session, edge.simulator.corp_id, [target.message_id, forged.id], POLICY, utcnow())
    with edge.database.sessions() as session:
        assert session.scalar(select(ChainLink.disposed_at).where(ChainLink.position == 5)) is None, "rolled back"
