"""Word-group changes made by a person (the JSON API and the console): each checks that what
it changes exists (or does not yet), writes it and appends its ``admin.rules.*`` access-log
row, all in the caller's transaction.

Creating or importing the first group stores the starter lexicons first: detection uses
them while the tables are empty, so without them one new group would silently switch all
the others off (``service.ensure_starter_rules``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from audit.accesslog import log as access_log
from audit.detect.rules import repository
from audit.detect.rules import service as rules_service
from audit.detect.rules.spec import LexiconGroup
from audit.errors import Conflict, NotFound
from audit.security.principal import Principal


def existing(session: Session, name: str, corp_id: str) -> LexiconGroup:
    group = repository.get_group(session, name, corp_id)
    if group is None:
        where = f"corp {corp_id}" if corp_id else "the global rules"
        raise NotFound(
            f"no word group named {name!r} in {where}",
            hint="GET /api/v1/rules or the console's rules page lists them",
        )
    return group


def _log_group(session: Session, actor: Principal, action: str, name: str, corp_id: str, now: datetime) -> None:
    access_log.append_admin(session, actor, action, {"group": name, "corp_id": corp_id or None}, 1, now)


def create(
    session: Session, actor: Principal, group: LexiconGroup, corp_id: str, now: datetime, lexicon_dir: Path | None
) -> None:
    """A new group; ``Conflict`` if one of that name exists for ``corp_id``."""
    if repository.get_group(session, group.name, corp_id) is not None:
        raise Conflict(
            f"a word group named {group.name!r} exists",
            hint="update that group instead (PUT it, or edit it in the console)",
        )
    rules_service.ensure_starter_rules(session, now, lexicon_dir)
    repository.save_group(session, group, now, corp_id)
    _log_group(session, actor, "admin.rules.create", group.name, corp_id, now)


def update(session: Session, actor: Principal, group: LexiconGroup, corp_id: str, now: datetime) -> None:
    """Replace an existing group's content (terms included)."""
    existing(session, group.name, corp_id)
    repository.save_group(session, group, now, corp_id)
    _log_group(session, actor, "admin.rules.update", group.name, corp_id, now)


def set_enabled(session: Session, actor: Principal, name: str, enabled: bool, corp_id: str, now: datetime) -> None:
    existing(session, name, corp_id)
    repository.set_enabled(session, name, enabled, now, corp_id)
    _log_group(session, actor, f"admin.rules.{'enable' if enabled else 'disable'}", name, corp_id, now)


def delete(session: Session, actor: Principal, name: str, corp_id: str, now: datetime) -> LexiconGroup:
    """Delete a group and its terms; returns what was deleted."""
    group = existing(session, name, corp_id)
    repository.delete_group(session, name, corp_id)
    _log_group(session, actor, "admin.rules.delete", name, corp_id, now)
    return group


def import_groups(
    session: Session, actor: Principal, groups: Sequence[LexiconGroup], now: datetime, lexicon_dir: Path | None
) -> int:
    """Insert or replace each global group by name (others are kept); returns how many."""
    rules_service.ensure_starter_rules(session, now, lexicon_dir)
    count = rules_service.import_groups(session, groups, now)
    access_log.append_admin(
        session, actor, "admin.rules.import", {"groups": sorted(g.name for g in groups)}, count, now
    )
    return count
