"""Rule-table operations that callers combine in one transaction (they never commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from audit.detect.rules import repository
from audit.detect.rules.models import GLOBAL_CORP
from audit.detect.rules.spec import LexiconGroup, RuleSet
from audit.detect.rules.starter import starter_groups


def ensure_starter_rules(session: Session, now: datetime, data_dir: Path | None = None) -> int:
    """Seed the starter lexicons into empty rule tables; returns the groups added (0 when
    the tables already hold rules: officers' edits and deletions are never undone)."""
    if repository.has_groups(session):
        return 0
    return repository.save_groups(session, starter_groups(data_dir), now)


def import_groups(session: Session, groups: Sequence[LexiconGroup], now: datetime, corp_id: str = GLOBAL_CORP) -> int:
    """Insert or replace each group by name (terms replaced); other groups are kept."""
    return repository.save_groups(session, groups, now, corp_id)


def rules_or_starter(session: Session, corp_id: str | None = None, data_dir: Path | None = None) -> RuleSet:
    """The database rules, or the starter lexicons while the rule tables are empty."""
    if repository.has_groups(session):
        return repository.load_rule_set(session, corp_id)
    return RuleSet(tuple(starter_groups(data_dir)))
