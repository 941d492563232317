"""Which corp a request or command is about, when the caller did not say (one resolver
for the API, the console and the CLI)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from archive.errors import ArchiveError
from archive.repository import known_corp_ids
from config.settings import Settings


class NoCorpError(ArchiveError):
    """Nothing is configured or archived yet, and the caller named no corp."""


def corp_in_question(session: Session, settings: Settings, corp_id: str | None) -> str:
    """``corp_id`` if given, else the first configured corp, else the first archived one."""
    if corp_id:
        return corp_id
    corps = [corp.corp_id for corp in settings.corps()] or known_corp_ids(session)
    if not corps:
        raise NoCorpError("no corp is configured or archived yet", hint="pass the corp id (corp_id)")
    return corps[0]


def corps_in_question(settings: Settings, corp_id: str | None) -> list[str]:
    """The corps a query spans: the one asked for, else every configured corp."""
    return [corp_id] if corp_id else [corp.corp_id for corp in settings.corps()]
