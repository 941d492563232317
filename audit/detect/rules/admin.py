"""Word-group changes made by a person (the JSON API and the console): each checks that what
it changes exists (or does not yet), writes it and appends its ``admin.rules.*`` access-log
row, all in the caller's transaction.

Creating or importing the first group stores the starter lexicons first: detection uses
them while the tables are empty, so without them one new group would silently switch all
the others off (``service.ensure_starter_rules``).

Lexicon files (CSV or Excel) are read and written for every front end here too:
:func:`lexicon` is what detection uses (the stored groups, or the starter lexicons while
none is stored), :func:`groups_from_upload` parses an uploaded file and
:func:`import_groups` stores its groups (the JSON API, the console, ``wecom-audit lexicon``).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from audit.accesslog import log as access_log
from audit.detect.rules import io as rules_io
from audit.detect.rules import repository
from audit.detect.rules import service as rules_service
from audit.detect.rules.models import GLOBAL_CORP
from audit.detect.rules.spec import LexiconGroup, RuleError
from audit.errors import Conflict, InvalidInput, NotFound
from audit.security.principal import Principal

CSV_SUFFIXES = (".csv",)
EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def existing(session: Session, name: str, corp_id: str) -> LexiconGroup:
    group = repository.get_group(session, name, corp_id)
    if group is None:
        where = f"corp {corp_id}" if corp_id else "the global rules"
        raise NotFound(
            f"no word group named {name!r} in {where}",
            hint="GET /api/v1/rules or the console's rules page lists them",
        )
    return group


def shown(session: Session, name: str, corp_id: str, lexicon_dir: Path | None) -> LexiconGroup:
    """The group as detection uses it: :func:`existing`, or a starter group while none is stored."""
    if corp_id == GLOBAL_CORP:
        group = global_group(session, name, lexicon_dir)
        if group is not None:
            return group
    return existing(session, name, corp_id)


def _log_group(session: Session, actor: Principal, action: str, name: str, corp_id: str, now: datetime) -> None:
    access_log.append_admin(session, actor, action, {"group": name, "corp_id": corp_id or None}, 1, now)


def _seed(session: Session, corp_id: str, now: datetime, lexicon_dir: Path | None) -> None:
    """Store the starter lexicons before the first change of a global group (a starter group
    shown while the tables are empty can be edited, enabled or deleted like a stored one)."""
    if corp_id == GLOBAL_CORP:
        rules_service.ensure_starter_rules(session, now, lexicon_dir)


def create(
    session: Session, actor: Principal, group: LexiconGroup, corp_id: str, now: datetime, lexicon_dir: Path | None
) -> None:
    """A new group; ``Conflict`` if one of that name exists for ``corp_id`` (a starter group
    counts while none is stored)."""
    taken = repository.get_group(session, group.name, corp_id) is not None or (
        corp_id == GLOBAL_CORP and global_group(session, group.name, lexicon_dir) is not None
    )
    if taken:
        raise Conflict(
            f"a word group named {group.name!r} exists",
            hint="update that group instead (PUT it, or edit it in the console)",
        )
    rules_service.ensure_starter_rules(session, now, lexicon_dir)
    repository.save_group(session, group, now, corp_id)
    _log_group(session, actor, "admin.rules.create", group.name, corp_id, now)


def update(
    session: Session,
    actor: Principal,
    group: LexiconGroup,
    corp_id: str,
    now: datetime,
    lexicon_dir: Path | None = None,
) -> None:
    """Replace an existing group's content (terms included)."""
    if corp_id == GLOBAL_CORP and global_group(session, group.name, lexicon_dir) is None:
        existing(session, group.name, corp_id)  # raises NotFound before anything is stored
    _seed(session, corp_id, now, lexicon_dir)
    existing(session, group.name, corp_id)
    repository.save_group(session, group, now, corp_id)
    _log_group(session, actor, "admin.rules.update", group.name, corp_id, now)


def save(
    session: Session,
    actor: Principal,
    group: LexiconGroup,
    *,
    original: str,
    now: datetime,
    lexicon_dir: Path | None,
) -> None:
    """The console's word-group form: a new global group (``original`` empty) or a change to
    the group named ``original`` (which cannot be renamed)."""
    if original and original != group.name:
        raise InvalidInput("a word group cannot be renamed", hint="create a new group and delete this one")
    if original:
        update(session, actor, group, GLOBAL_CORP, now, lexicon_dir)
    else:
        create(session, actor, group, GLOBAL_CORP, now, lexicon_dir)


def set_enabled(
    session: Session,
    actor: Principal,
    name: str,
    enabled: bool,
    corp_id: str,
    now: datetime,
    lexicon_dir: Path | None = None,
) -> None:
    _seed(session, corp_id, now, lexicon_dir)
    existing(session, name, corp_id)
    repository.set_enabled(session, name, enabled, now, corp_id)
    _log_group(session, actor, f"admin.rules.{'enable' if enabled else 'disable'}", name, corp_id, now)


def delete(
    session: Session, actor: Principal, name: str, corp_id: str, now: datetime, lexicon_dir: Path | None = None
) -> LexiconGroup:
    """Delete a group and its terms; returns what was deleted."""
    _seed(session, corp_id, now, lexicon_dir)
    group = existing(session, name, corp_id)
    repository.delete_group(session, name, corp_id)
    _log_group(session, actor, "admin.rules.delete", name, corp_id, now)
    return group


def import_groups(
    session: Session,
    actor: Principal | None,
    groups: Sequence[LexiconGroup],
    now: datetime,
    lexicon_dir: Path | None,
    corp_id: str = GLOBAL_CORP,
) -> int:
    """Insert or replace each group by name (others are kept): global ones, or ``corp_id``'s
    own; returns how many. ``actor``: the person importing (an ``admin.rules.import`` row;
    ``None`` for the CLI, which writes none)."""
    rules_service.ensure_starter_rules(session, now, lexicon_dir)
    count = rules_service.import_groups(session, groups, now, corp_id)
    if actor is not None:
        target: dict[str, object] = {"groups": sorted(g.name for g in groups)}
        if corp_id:
            target["corp_id"] = corp_id
        access_log.append_admin(session, actor, "admin.rules.import", target, count, now)
    return count


def lexicon(session: Session, corp_id: str | None, lexicon_dir: Path | None) -> tuple[list[LexiconGroup], bool]:
    """What detection uses: the stored groups (global ones and ``corp_id``'s; every corp's
    when ``None``), disabled ones included, or the starter lexicons while none is stored
    (then ``True``: the first change stores them, so editing one never drops the others)."""
    if repository.has_groups(session):
        return repository.list_groups(session, corp_id), False
    return list(rules_service.rules_or_starter(session, corp_id, lexicon_dir).groups), True


def global_group_names(session: Session, lexicon_dir: Path | None) -> set[str]:
    """The names of the global groups (every group while the starter lexicons are in use)."""
    groups, starter = lexicon(session, None, lexicon_dir)
    return {g.name for g in (groups if starter else repository.list_groups(session, GLOBAL_CORP))}


def global_group(session: Session, name: str, lexicon_dir: Path | None) -> LexiconGroup | None:
    """The global group named ``name`` (a starter one while none is stored)."""
    groups, starter = lexicon(session, None, lexicon_dir)
    if starter:
        return next((g for g in groups if g.name == name), None)
    return repository.get_group(session, name)


def groups_from_upload(filename: str, content: bytes) -> list[LexiconGroup]:
    """The word groups of an uploaded ``.csv`` (UTF-8) or ``.xlsx`` file; ``InvalidInput``
    naming the line and column of what is wrong."""
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in CSV_SUFFIXES:
            try:
                text = content.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise InvalidInput("the CSV file is not UTF-8", hint="save it as CSV UTF-8") from None
            return rules_io.groups_from_rows(csv.DictReader(io.StringIO(text)), filename)
        if suffix in EXCEL_SUFFIXES:
            with tempfile.TemporaryDirectory() as directory:
                path = Path(directory) / f"upload{suffix}"
                path.write_bytes(content)
                return rules_io.read_excel(path)
    except (RuleError, KeyError, csv.Error) as exc:  # RuleError names the line and column
        raise InvalidInput(f"the rules file is invalid: {exc}") from None
    except (OSError, ValueError) as exc:  # openpyxl: not a workbook
        raise InvalidInput(f"the file cannot be read as a workbook: {exc}") from None
    raise InvalidInput("use a .csv or .xlsx file", hint=f"columns: {', '.join(rules_io.COLUMNS)}")


def excel_bytes(groups: Sequence[LexiconGroup]) -> bytes:
    """The groups as an Excel workbook (the file ``groups_from_upload`` reads back)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "lexicon.xlsx"
        rules_io.write_excel(groups, path)
        return path.read_bytes()
