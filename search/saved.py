"""Saved searches: a console user's named queries in the search language.

A saved search holds the query text only, never results: running it again goes through
the access gate like any search. Each user sees and changes their own saved searches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from archive.models import Base, BigIntId
from audit.errors import InvalidInput, NotFound
from search.query import MAX_QUERY_LENGTH

SAVED_NAME_MAX_CHARS = 100
SAVED_PER_USER_MAX = 200


class SavedSearch(Base):
    __tablename__ = "saved_searches"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("security_users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(SAVED_NAME_MAX_CHARS))
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


@dataclass(frozen=True)
class SavedSearchView:
    id: int
    name: str
    query: str
    created_at: datetime


def _view(row: SavedSearch) -> SavedSearchView:
    return SavedSearchView(row.id, row.name, row.query, row.created_at)


def list_saved(session: Session, user_id: int) -> list[SavedSearchView]:
    rows = session.execute(select(SavedSearch).where(SavedSearch.user_id == user_id).order_by(SavedSearch.name))
    return [_view(row) for row in rows.scalars()]


def save(session: Session, user_id: int, name: str, query: str, now: datetime) -> SavedSearchView:
    """Save (or, for an existing name, replace) a query under a name."""
    name, query = name.strip(), query.strip()
    if not name or len(name) > SAVED_NAME_MAX_CHARS:
        raise InvalidInput(f"a saved search needs a name of 1 to {SAVED_NAME_MAX_CHARS} characters")
    if not query or len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"a saved search needs a query of 1 to {MAX_QUERY_LENGTH} characters")
    row = session.execute(
        select(SavedSearch).where(SavedSearch.user_id == user_id, SavedSearch.name == name)
    ).scalar_one_or_none()
    if row is None:
        if len(list_saved(session, user_id)) >= SAVED_PER_USER_MAX:
            raise InvalidInput(f"at most {SAVED_PER_USER_MAX} saved searches per user", hint="delete some first")
        row = SavedSearch(user_id=user_id, name=name, query=query, created_at=now)
        session.add(row)
    else:
        row.query, row.created_at = query, now
    session.flush()
    return _view(row)


def delete(session: Session, user_id: int, saved_id: int) -> None:
    row = session.get(SavedSearch, saved_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"no saved search {saved_id}")
    session.delete(row)
