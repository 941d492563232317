"""Building search documents from the archive (the index is a projection of the database)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from archive.messages import is_external_id
from search import repository
from search.backend import SearchDocument

# Robots (wb…) and system senders are neither staff nor customers.
_NOT_PEOPLE_PREFIXES = ("wb",)

# Batches of ids per IN (...) list (PostgreSQL and SQLite both accept this comfortably).
_CHUNK = 1000


def build_documents(session: Session, message_ids: Sequence[int]) -> list[SearchDocument]:
    """The documents of the given messages, in ``message_ids`` order; ids whose message no
    longer exists (disposed by retention) are skipped."""
    docs: dict[int, SearchDocument] = {}
    for start in range(0, len(message_ids), _CHUNK):
        chunk = message_ids[start : start + _CHUNK]
        for doc in _build_chunk(session, chunk):
            docs[doc.message_id] = doc
    return [docs[message_id] for message_id in dict.fromkeys(message_ids) if message_id in docs]


def _build_chunk(session: Session, message_ids: Sequence[int]) -> list[SearchDocument]:
    rows = repository.messages(session, message_ids)
    if not rows:
        return []
    recipients = repository.recipients(session, message_ids)
    hits = repository.hits(session, message_ids)
    sentiments = repository.sentiments(session, message_ids)
    staff_by_corp: dict[str, set[str]] = {}
    for row in rows:
        for person in (row.sender, *recipients.get(row.id, ())):
            if not is_external_id(person) and not person.startswith(_NOT_PEOPLE_PREFIXES):
                staff_by_corp.setdefault(row.corp_id, set()).add(person)
    departments = {
        corp_id: repository.memberships(session, corp_id, sorted(userids)) for corp_id, userids in staff_by_corp.items()
    }
    docs = []
    for row in rows:
        people = (row.sender, *recipients.get(row.id, ()))
        customers = tuple(sorted({person for person in people if is_external_id(person)}))
        staff = tuple(sorted({p for p in people if not is_external_id(p) and not p.startswith(_NOT_PEOPLE_PREFIXES)}))
        corp_departments = departments.get(row.corp_id, {})
        message_hits = hits.get(row.id, [])
        docs.append(
            SearchDocument(
                msgid=row.msgid,
                corp_id=row.corp_id,
                message_id=row.id,
                conversation_id=row.conversation_id,
                seq=row.seq,
                msgtime=row.msgtime,
                msgtype=row.msgtype,
                sender=row.sender,
                recipients=tuple(recipients.get(row.id, ())),
                roomid=row.roomid,
                customer_ids=customers,
                staff_ids=staff,
                department_ids=tuple(sorted({dept for person in staff for dept in corp_departments.get(person, ())})),
                text=row.text or "",
                has_media=row.media_count > 0,
                rules=tuple(sorted({rule for rule, _, _ in message_hits})),
                categories=tuple(sorted({category for _, category, _ in message_hits})),
                severities=tuple(sorted({severity for _, _, severity in message_hits})),
                sentiment=sentiments.get(row.id),
            )
        )
    return docs
