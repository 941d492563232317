"""Lexicons as CSV and Excel files: one row per term, exclusion or allowed context, with its
group's settings repeated on each row (so a file sorts and filters well in a spreadsheet).

Columns: group, category, severity, direction, chat_kind, departments, employees, rooms,
enabled, kind, text. ``departments``/``employees``/``rooms`` are ``;``-separated lists;
``kind`` is ``term`` (default), ``exclusion`` or ``allow_context``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from audit.detect.hits import Severity
from audit.detect.rules.spec import (
    CHAT_KIND_SCOPES,
    DIRECTIONS,
    TERM_KINDS,
    ChatKindScope,
    Direction,
    LexiconGroup,
    RuleError,
    RuleSet,
)

COLUMNS = (
    "group",
    "category",
    "severity",
    "direction",
    "chat_kind",
    "departments",
    "employees",
    "rooms",
    "enabled",
    "kind",
    "text",
)
_REQUIRED = ("group", "category", "severity", "text")
_TRUE = {"1", "true", "yes", "y", "on", "是"}
_FALSE = {"0", "false", "no", "n", "off", "否"}


@dataclass
class _Draft:
    name: str
    category: str
    severity: Severity
    direction: Direction
    chat_kind: ChatKindScope
    departments: frozenset[int]
    employees: frozenset[str]
    rooms: frozenset[str]
    enabled: bool
    texts: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in TERM_KINDS})


def groups_from_rows(rows: Iterable[dict[str, str]], source: str) -> list[LexiconGroup]:
    """Lexicon groups from rows keyed by column name; errors name the file and line."""
    drafts: dict[str, _Draft] = {}
    for line, row in enumerate(rows, start=2):
        row = {key.strip().lower(): (value or "").strip() for key, value in row.items() if key}
        if not any(row.values()):
            continue
        where = f"{source}, line {line}"
        missing = [column for column in _REQUIRED if not row.get(column)]
        if missing:
            raise RuleError(f"{where}: empty {', '.join(missing)} (columns: {', '.join(COLUMNS)})")
        name = row["group"]
        draft = drafts.get(name)
        if draft is None:
            draft = drafts[name] = _Draft(
                name=name,
                category=row["category"],
                severity=Severity(_choice(row["severity"].lower(), [s.value for s in Severity], "severity", where)),
                direction=cast(Direction, _choice(row.get("direction") or "any", DIRECTIONS, "direction", where)),
                chat_kind=cast(
                    ChatKindScope, _choice(row.get("chat_kind") or "any", CHAT_KIND_SCOPES, "chat_kind", where)
                ),
                departments=frozenset(_int(item, where) for item in _items(row.get("departments", ""))),
                employees=frozenset(_items(row.get("employees", ""))),
                rooms=frozenset(_items(row.get("rooms", ""))),
                enabled=_bool(row.get("enabled") or "true", where),
            )
        kind = _choice(row.get("kind") or "term", TERM_KINDS, "kind", where)
        draft.texts[kind].append(row["text"])
    return [
        LexiconGroup(
            name=d.name,
            category=d.category,
            severity=Severity(d.severity),
            terms=tuple(d.texts["term"]),
            direction=d.direction,
            chat_kind=d.chat_kind,
            departments=d.departments,
            employees=d.employees,
            rooms=d.rooms,
            exclusions=tuple(d.texts["exclusion"]),
            allowed_contexts=tuple(d.texts["allow_context"]),
            enabled=d.enabled,
        )
        for d in drafts.values()
    ]


def rows_of(groups: Sequence[LexiconGroup]) -> Iterator[list[str]]:
    """Rows (without the header) in ``COLUMNS`` order."""
    for group in groups:
        settings = [
            group.name,
            group.category,
            group.severity.value,
            group.direction,
            group.chat_kind,
            ";".join(str(d) for d in sorted(group.departments)),
            ";".join(sorted(group.employees)),
            ";".join(sorted(group.rooms)),
            "true" if group.enabled else "false",
        ]
        for kind, texts in group.texts_by_kind():
            for text in texts:
                yield [*settings, kind, text]


def read_csv(path: Path) -> list[LexiconGroup]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return groups_from_rows(csv.DictReader(handle), str(path))


def write_csv(groups: Sequence[LexiconGroup], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(csv_text(groups))


def csv_text(groups: Sequence[LexiconGroup]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows_of(groups))
    return buffer.getvalue()


def read_excel(path: Path) -> list[LexiconGroup]:
    """The word groups of a workbook's first sheet. A file that is not a readable workbook
    (a broken ZIP, malformed XML, a DOCTYPE with entities, ...) is a ``RuleError``."""
    header, rows = _excel_rows(path)
    records = ({column: value for column, value in zip(header, row, strict=False)} for row in rows)
    return groups_from_rows(records, str(path))


def _excel_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    from openpyxl import load_workbook

    # The file comes from a user: openpyxl then raises whatever its ZIP and XML parsers raise
    # (BadZipFile, ParseError (a SyntaxError), KeyError for a missing part, DefusedXmlException
    # for entities, ...). Each means "not a workbook we can read", reported as such.
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = workbook.active
            if sheet is None:
                raise RuleError(f"{path}: the workbook has no sheet")
            cells = [
                ["" if value is None else str(value) for value in row] for row in sheet.iter_rows(values_only=True)
            ]
        finally:
            workbook.close()
    except RuleError:
        raise
    except Exception as exc:
        raise RuleError(f"{path.name}: not a readable Excel workbook ({type(exc).__name__})") from None
    header = [cell.strip().lower() for cell in cells[0]] if cells else []
    return header, cells[1:]


def write_excel(groups: Sequence[LexiconGroup], path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = "lexicon"
    sheet.append(list(COLUMNS))
    for row in rows_of(groups):
        sheet.append(row)
    workbook.save(path)


def read_rules(path: Path) -> RuleSet:
    """A rule set from a ``.csv`` or ``.xlsx`` file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return RuleSet(tuple(read_csv(path)))
    if suffix in (".xlsx", ".xlsm"):
        return RuleSet(tuple(read_excel(path)))
    raise RuleError(f"{path}: use a .csv or .xlsx file (columns: {', '.join(COLUMNS)})")


def write_rules(groups: Sequence[LexiconGroup], path: Path) -> None:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        write_excel(groups, path)
    else:
        write_csv(groups, path)


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.replace(",", ";").split(";") if item.strip()]


def _int(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise RuleError(f"{where}: department ids are numbers, got {value!r}") from None


def _bool(value: str, where: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RuleError(f"{where}: enabled must be true or false, got {value!r}")


def _choice(value: str, allowed: Sequence[str], column: str, where: str) -> str:
    if value not in allowed:
        raise RuleError(f"{where}: {column} must be one of {', '.join(allowed)}, got {value!r}")
    return value
