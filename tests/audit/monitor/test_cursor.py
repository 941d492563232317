"""The monitor reads new messages past a cursor. Row ids cannot be that cursor: they are
drawn before commit, so a lower id can commit after a higher one. The corp's chain position
can: this reproduces the out-of-order commit and shows the monitor still sees the message."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from archive import repository
from archive.integrity import chain
from archive.messages import parse_message
from archive.repository import DecodedItem
from archive.source import ChatEnvelope
from audit.monitor.models import ReplyThread
from tests.audit.monitor.helpers import CORP, Chat, local, run, single, store
from tests.conftest import Database


def test_a_lower_row_id_committed_late_is_still_read(postgresql_database: Database) -> None:
    # PostgreSQL only: SQLite holds one write lock per transaction, so writers cannot interleave.
    database = postgresql_database
    store(database, single("zhangsan", "wmFirst", [Chat("wmFirst", local(2026, 11, 23, 10, 0))]))

    # Writer A inserts its message (drawing the lower row id) and is slow to finish…
    (plaintext,) = single("lisi", "wmLate", [Chat("wmLate", local(2026, 11, 23, 10, 1))])
    raw = json.dumps(plaintext, ensure_ascii=False)
    envelope = ChatEnvelope(900_001, str(plaintext["msgid"]), 1, "key", "ciphertext")
    with database.sessions() as session_a:
        envelope_ids = repository.insert_envelopes(session_a, CORP, [envelope], datetime.now(UTC))
        item = DecodedItem(envelope_ids[envelope.msgid], envelope.seq, parse_message(raw.encode()), raw, envelope)
        stored_a = repository.insert_messages(session_a, CORP, [item])

        # …while writer B stores and commits a higher row id, and the monitor runs.
        (b_id,) = store(database, single("wangwu", "wmOther", [Chat("wmOther", local(2026, 11, 23, 10, 2))]))
        assert b_id > stored_a[0].id
        run(database, local(2026, 11, 23, 10, 5))

        chain.append(session_a, CORP, stored_a, datetime.now(UTC))  # A links after B, and commits
        session_a.commit()

    run(database, local(2026, 11, 23, 10, 6))
    with database.sessions() as session:
        customers = session.scalars(select(ReplyThread.customer).order_by(ReplyThread.opened_at)).all()
    assert customers == ["wmFirst", "wmLate", "wmOther"]
