"""Queries on the lexicon rule tables. Services call these; nothing here commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from audit.detect.hits import Severity
from audit.detect.rules.models import GLOBAL_CORP, LexiconGroupRow, LexiconTermRow
from audit.detect.rules.spec import ChatKindScope, Direction, LexiconGroup, RuleSet


def fingerprint(session: Session) -> tuple[object, ...]:
    """Changes whenever a group or term is added, removed or (through ``save_group``) edited."""
    groups = session.execute(
        select(func.count(), func.max(LexiconGroupRow.updated_at), func.sum(LexiconGroupRow.version))
    ).one()
    terms = session.execute(select(func.count(), func.max(LexiconTermRow.id))).one()
    return (*groups, *terms)


def list_groups(session: Session, corp_id: str | None = None, *, enabled_only: bool = False) -> list[LexiconGroup]:
    """Global groups plus ``corp_id``'s (every group when ``corp_id`` is None), by name."""
    query = select(LexiconGroupRow).order_by(LexiconGroupRow.name, LexiconGroupRow.corp_id)
    if corp_id is not None:
        query = query.where(or_(LexiconGroupRow.corp_id == GLOBAL_CORP, LexiconGroupRow.corp_id == corp_id))
    if enabled_only:
        query = query.where(LexiconGroupRow.enabled.is_(True))
    rows = list(session.scalars(query))
    texts: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    if rows:
        term_rows = session.execute(
            select(LexiconTermRow.group_id, LexiconTermRow.kind, LexiconTermRow.text)
            .where(LexiconTermRow.group_id.in_([row.id for row in rows]))
            .order_by(LexiconTermRow.id)
        )
        for group_id, kind, text in term_rows:
            texts[group_id][kind].append(text)
    groups: dict[str, LexiconGroup] = {}
    for row in rows:
        # A corp's own group overrides a global one of the same name.
        if row.name in groups and row.corp_id == GLOBAL_CORP:
            continue
        groups[row.name] = _to_spec(row, texts[row.id])
    return list(groups.values())


def get_group(session: Session, name: str, corp_id: str = GLOBAL_CORP) -> LexiconGroup | None:
    """The group stored under exactly ``corp_id`` (no global fallback), if any."""
    row = session.scalars(
        select(LexiconGroupRow).where(LexiconGroupRow.corp_id == corp_id, LexiconGroupRow.name == name)
    ).one_or_none()
    if row is None:
        return None
    texts: dict[str, list[str]] = defaultdict(list)
    for kind, text in session.execute(
        select(LexiconTermRow.kind, LexiconTermRow.text)
        .where(LexiconTermRow.group_id == row.id)
        .order_by(LexiconTermRow.id)
    ):
        texts[kind].append(text)
    return _to_spec(row, texts)


def load_rule_set(session: Session, corp_id: str | None = None) -> RuleSet:
    return RuleSet(tuple(list_groups(session, corp_id, enabled_only=True)))


def save_group(session: Session, group: LexiconGroup, now: datetime, corp_id: str = GLOBAL_CORP) -> int:
    """Insert or replace the group named ``group.name`` (its terms replaced); returns its id."""
    row = session.scalars(
        select(LexiconGroupRow).where(LexiconGroupRow.corp_id == corp_id, LexiconGroupRow.name == group.name)
    ).one_or_none()
    if row is None:
        row = LexiconGroupRow(corp_id=corp_id, name=group.name, version=0)
        session.add(row)
    row.category = group.category
    row.severity = group.severity.value
    row.direction = group.direction
    row.chat_kind = group.chat_kind
    row.departments = sorted(group.departments)
    row.employees = sorted(group.employees)
    row.rooms = sorted(group.rooms)
    row.enabled = group.enabled
    row.version = row.version + 1
    row.updated_at = now
    session.flush()
    session.execute(delete(LexiconTermRow).where(LexiconTermRow.group_id == row.id))
    seen: set[tuple[str, str]] = set()
    for kind, items in group.texts_by_kind():
        for text in items:
            if text and (kind, text) not in seen:
                seen.add((kind, text))
                session.add(LexiconTermRow(group_id=row.id, kind=kind, text=text))
    session.flush()
    return row.id


def save_groups(session: Session, groups: Iterable[LexiconGroup], now: datetime, corp_id: str = GLOBAL_CORP) -> int:
    count = 0
    for group in groups:
        save_group(session, group, now, corp_id)
        count += 1
    return count


def set_enabled(session: Session, name: str, enabled: bool, now: datetime, corp_id: str = GLOBAL_CORP) -> bool:
    row = session.scalars(
        select(LexiconGroupRow).where(LexiconGroupRow.corp_id == corp_id, LexiconGroupRow.name == name)
    ).one_or_none()
    if row is None:
        return False
    row.enabled = enabled
    row.version += 1
    row.updated_at = now
    session.flush()
    return True


def delete_group(session: Session, name: str, corp_id: str = GLOBAL_CORP) -> bool:
    row = session.scalars(
        select(LexiconGroupRow).where(LexiconGroupRow.corp_id == corp_id, LexiconGroupRow.name == name)
    ).one_or_none()
    if row is None:
        return False
    session.execute(delete(LexiconTermRow).where(LexiconTermRow.group_id == row.id))
    session.delete(row)
    session.flush()
    return True


def has_groups(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(LexiconGroupRow)) != 0


def _to_spec(row: LexiconGroupRow, texts: dict[str, list[str]]) -> LexiconGroup:
    direction: Direction = row.direction  # type: ignore[assignment]  # validated by LexiconGroup
    chat_kind: ChatKindScope = row.chat_kind  # type: ignore[assignment]
    return LexiconGroup(
        name=row.name,
        category=row.category,
        severity=Severity(row.severity),
        terms=tuple(texts.get("term", ())),
        direction=direction,
        chat_kind=chat_kind,
        departments=frozenset(int(d) for d in row.departments),
        employees=frozenset(row.employees),
        rooms=frozenset(row.rooms),
        exclusions=tuple(texts.get("exclusion", ())),
        allowed_contexts=tuple(texts.get("allow_context", ())),
        enabled=row.enabled,
        version=row.version,
    )
