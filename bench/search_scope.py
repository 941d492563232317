"""What building a department reviewer's search scope costs in the database (ADR 0021).

    python -m bench.search_scope [--messages 1000000] [--repeat 30]

``search.scope.search_scope_of`` reads, per search request of a scope that excludes
protected people, the conversations they took part in (else nothing). This builds the
three tables those reads touch (conversations, messages, message_recipients, with their
real indexes) in a SQLite file shaped like ``bench.search``'s corpus (400 employees in 20
departments, 4,000 customers, 300 rooms; 30 % of messages in rooms, whose messages list
every room member) and times the scope of a 20-member department, with and without a
protected person (one employee, about 0.25 % of the messages). The last line is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from archive.models import Conversation, Message, MessageRecipient
from audit.security.scope import DataScope
from search.scope import search_scope_of

CORP = "wwbench"
START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 20_000


def build(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    engine = create_engine(f"sqlite:///{path}")
    tables = [Conversation.__table__, Message.__table__, MessageRecipient.__table__]
    Conversation.metadata.create_all(engine, tables=tables)  # type: ignore[arg-type]
    employees = [f"emp{i:04d}" for i in range(400)]
    customers = [f"wm{i:06d}" for i in range(4000)]
    rooms = {f"wr{i:04d}": rng.sample(employees, 3) + rng.sample(customers, 7) for i in range(300)}
    conversation_ids: dict[str, int] = {}
    conversation_rows: list[dict[str, object]] = []

    def conversation(key: str, kind: str, roomid: str | None, a: str | None, b: str | None) -> int:
        if key not in conversation_ids:
            conversation_ids[key] = len(conversation_ids) + 1
            conversation_rows.append(
                {
                    "id": conversation_ids[key],
                    "corp_id": CORP,
                    "key": key,
                    "kind": kind,
                    "roomid": roomid,
                    "participant_a": a,
                    "participant_b": b,
                    "has_external": True,
                    "first_msg_at": START,
                    "last_msg_at": START,
                    "message_count": 0,
                }
            )
        return conversation_ids[key]

    with engine.begin() as connection:
        messages: list[dict[str, object]] = []
        recipients: list[dict[str, object]] = []
        for index in range(count):
            if rng.random() < 0.3:
                roomid = rng.choice(list(rooms))
                people = rooms[roomid]
                sender = rng.choice(people)
                to = [p for p in people if p != sender]
                conversation_id = conversation(f"room:{roomid}", "group", roomid, None, None)
            else:
                employee, customer = rng.choice(employees), rng.choice(customers)
                sender, other = (employee, customer) if rng.random() < 0.5 else (customer, employee)
                to, roomid = [other], None
                a, b = sorted((employee, customer))
                conversation_id = conversation(f"pair:{a}|{b}", "single", None, a, b)
            messages.append(
                {
                    "id": index + 1,
                    "corp_id": CORP,
                    "envelope_id": index + 1,
                    "seq": index + 1,
                    "msgid": f"msg{index:08d}",
                    "action": "send",
                    "msgtype": "text",
                    "sender": sender,
                    "roomid": roomid,
                    "conversation_id": conversation_id,
                    "msgtime": START + timedelta(seconds=index * 30),
                    "parse_status": "ok",
                    "text": "",
                    "body": {},
                    "raw": "",
                    "media_count": 0,
                }
            )
            recipients += [{"message_id": index + 1, "recipient": person, "corp_id": CORP} for person in to]
            if len(messages) >= BATCH:
                connection.execute(insert(Message), messages)
                connection.execute(insert(MessageRecipient), recipients)
                messages, recipients = [], []
        if messages:
            connection.execute(insert(Message), messages)
            connection.execute(insert(MessageRecipient), recipients)
        connection.execute(insert(Conversation), conversation_rows)
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()


def time_scope(path: Path, scope: DataScope, repeat: int) -> list[float]:
    engine = create_engine(f"sqlite:///{path}")
    latencies = []
    with Session(engine) as session:
        search_scope_of(session, scope, [CORP])  # warm the page cache
        for _ in range(repeat):
            began = time.perf_counter()
            search_scope_of(session, scope, [CORP])
            latencies.append((time.perf_counter() - began) * 1000)
    engine.dispose()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wecom-scope-bench-") as tmp:
        path = Path(tmp) / "archive.db"
        began = time.perf_counter()
        build(path, args.messages)
        print(f"built {args.messages:,} messages in {time.perf_counter() - began:.1f} s")
        members = frozenset(f"emp{i:04d}" for i in range(0, 400, 20))
        department = DataScope(False, frozenset({1}), members, frozenset(), frozenset())
        protected = DataScope(False, frozenset({1}), members, frozenset(), frozenset({"emp0001"}))
        pairs = {"messages": str(args.messages)}
        for name, scope in (("department", department), ("department_protected", protected)):
            latencies = sorted(time_scope(path, scope, args.repeat))
            p50, p95 = (
                statistics.median(latencies),
                latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
            )
            print(f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {args.repeat} scopes")
            pairs[f"{name}_p50_ms"], pairs[f"{name}_p95_ms"] = f"{p50:.1f}", f"{p95:.1f}"
    print(" ".join(f"{key}={value}" for key, value in pairs.items()))


if __name__ == "__main__":
    main()
