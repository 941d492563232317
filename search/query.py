"""The officers' query language, parsed into a typed AST (never concatenated into a backend query).

Grammar (keywords case-insensitive; adjacent items are joined by an implicit AND)::

    query    := or_expr EOF
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (["AND"] unary)*
    unary    := ("NOT" | "-") unary | primary
    primary  := "(" or_expr ")" | atom ["NEAR/n" atom]
    atom     := WORD | "quoted phrase" | field:value | field:"quoted value"

Semantics shared by every backend (``search.matching`` is the reference implementation):

* ``Term`` and ``Phrase`` match an exact substring of the *folded* message text
  (``audit.text.fold``: NFKC, case, traditional → simplified); the query text is folded the
  same way, so ``返利`` finds 返利 and its traditional form and ``ＶＸ`` finds ``vx``.
* ``Near(a, b, n)``: an occurrence of ``a`` and one of ``b`` with at most ``n`` characters
  of folded text between them, in either order (overlapping occurrences count as 0).
* ``after:D`` is ``msgtime >= D 00:00`` and ``before:D`` is ``msgtime < D 00:00`` in the
  query's time zone (default Asia/Shanghai), like a mail client's date filters. ``D`` lies in
  ``FIRST_FILTER_DAY``…``LAST_FILTER_DAY``: every backend can represent those instants (the
  embedded index keys documents by milliseconds shifted 20 bits into a signed 64-bit row id).
* ``dept:N`` matches documents whose staff belong to department N or any department below it
  (``resolve_departments`` expands the subtree when the request is built).
* ``from:``, ``to:``, ``customer:``, ``room:`` and ``dept:`` take an id or a name; the parser
  keeps the value as typed and ``search.names.resolve_names`` turns names into ids against
  the directory before the request reaches a backend (backends only ever see ids).

Limits, each a positioned ``QuerySyntaxError`` rather than a failure further down: at most
``MAX_QUERY_LENGTH`` characters, parentheses and negations nested at most ``MAX_QUERY_DEPTH``
deep (every stage after the parser recurses over the tree, and Elasticsearch refuses bool
queries nested beyond 20), no control characters (they cannot be stored in the access log on
PostgreSQL and nobody types them), department ids that fit a signed 64-bit integer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime, tzinfo
from typing import TypeAlias
from zoneinfo import ZoneInfo

from audit.detect.hits import Severity
from audit.text.fold import fold_text
from search.errors import QuerySyntaxError

DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
DEFAULT_NEAR_DISTANCE = 10
MAX_NEAR_DISTANCE = 1000
MAX_QUERY_LENGTH = 2000
MAX_QUERY_DEPTH = 10
FIRST_FILTER_DAY = date(1900, 1, 1)
LAST_FILTER_DAY = date(2199, 12, 31)
MAX_DEPARTMENT_ID = 2**63 - 1
_ALLOWED_CONTROLS = frozenset("\t\n\r")

FILTER_FIELDS: tuple[str, ...] = (
    "from",
    "to",
    "room",
    "customer",
    "dept",
    "type",
    "after",
    "before",
    "has",
    "rule",
    "severity",
    "sentiment",
)
HAS_VALUES: tuple[str, ...] = ("media", "hit")
SENTIMENT_VALUES: tuple[str, ...] = ("positive", "negative", "neutral")
SEVERITY_VALUES: tuple[str, ...] = tuple(severity.value for severity in Severity)


@dataclass(frozen=True, slots=True)
class Term:
    """A bare word. ``text`` is folded; ``raw`` is what the officer typed."""

    text: str
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Phrase:
    """A "quoted phrase" (may contain spaces). ``text`` is folded."""

    text: str
    raw: str = ""


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Query


@dataclass(frozen=True, slots=True)
class Near:
    left: Term | Phrase
    right: Term | Phrase
    distance: int


@dataclass(frozen=True, slots=True)
class Filter:
    """``field:value``. ``value`` is as typed (ids are exact; ``type``/``has``/``severity``/
    ``sentiment`` values are lower-cased). Derived, typed forms for backends:

    * ``at``: for ``after``/``before``, the UTC-aware instant the date starts in the zone;
    * ``department_ids``: for ``dept``, the department and its subtree once
      ``resolve_departments`` ran (``None`` before: only the department itself);
    * ``position``: where the value starts in the query text (for errors about it).
    """

    field: str
    value: str
    at: datetime | None = None
    department_ids: frozenset[int] | None = dataclass_field(default=None, compare=False, repr=False)
    position: int = dataclass_field(default=0, compare=False, repr=False)

    def departments(self) -> frozenset[int]:
        """The department ids a ``dept`` filter accepts (none for a name nobody resolved:
        ``search.names.resolve_names`` runs before any backend sees the query)."""
        if self.department_ids is not None:
            return self.department_ids
        return frozenset({int(self.value)}) if is_department_id(self.value) else frozenset()


def is_department_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) <= MAX_DEPARTMENT_ID


@dataclass(frozen=True, slots=True)
class MatchAll:
    """The empty query: everything in scope (filters and facets still apply)."""


Query: TypeAlias = Term | Phrase | And | Or | Not | Near | Filter | MatchAll

# ---------------------------------------------------------------------------- tokenizer

_NEAR = re.compile(r"near(?:/(\d+))?", re.IGNORECASE)
_FIELD = re.compile(r"([A-Za-z]+):")
_KEYWORDS = ("and", "or", "not")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word" | "phrase" | "filter" | "lparen" | "rparen" | "and" | "or" | "not" | "minus" | "near" | "end"
    text: str
    position: int
    field_name: str = ""
    distance: int = 0


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    length = len(text)
    while i < length:
        char = text[i]
        if char not in _ALLOWED_CONTROLS and unicodedata.category(char) == "Cc":
            raise QuerySyntaxError(f"control character U+{ord(char):04X} is not allowed", i)
        if char.isspace():
            i += 1
            continue
        if char == "(":
            tokens.append(_Token("lparen", char, i))
            i += 1
            continue
        if char == ")":
            tokens.append(_Token("rparen", char, i))
            i += 1
            continue
        if char == '"':
            start = i
            value, i = _read_quoted(text, start)
            tokens.append(_Token("phrase", value, start))
            continue
        if char == "-" and i + 1 < length and not text[i + 1].isspace() and text[i + 1] not in ")":
            tokens.append(_Token("minus", char, i))
            i += 1
            continue
        start = i
        match = _FIELD.match(text, i)
        if match:
            name = match.group(1).lower()
            value_start = match.end()
            if name not in FILTER_FIELDS:
                raise QuerySyntaxError(
                    f'unknown filter "{match.group(1)}:" (filters: {", ".join(f + ":" for f in FILTER_FIELDS)};'
                    " put the text in quotes to search for it)",
                    start,
                )
            if value_start < length and text[value_start] == '"':
                value, i = _read_quoted(text, value_start)
            else:
                i = value_start
                while i < length and not text[i].isspace() and text[i] not in '()"':
                    i += 1
                value = text[value_start:i]
            if not value:
                raise QuerySyntaxError(f"expected a value after {name}:", value_start)
            tokens.append(_Token("filter", value, start, field_name=name))
            continue
        while i < length and not text[i].isspace() and text[i] not in '()"':
            i += 1
        word = text[start:i]
        lowered = word.lower()
        if lowered in _KEYWORDS:
            tokens.append(_Token(lowered, word, start))
            continue
        near = _NEAR.fullmatch(word)
        if near:
            distance = int(near.group(1)) if near.group(1) else DEFAULT_NEAR_DISTANCE
            if distance > MAX_NEAR_DISTANCE:
                raise QuerySyntaxError(f"NEAR distance must be at most {MAX_NEAR_DISTANCE}", start)
            tokens.append(_Token("near", word, start, distance=distance))
            continue
        tokens.append(_Token("word", word, start))
    tokens.append(_Token("end", "", length))
    return tokens


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The value of the quoted string opening at ``start`` and the index after it.
    ``\\"`` and ``\\\\`` escape a quote and a backslash."""
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            chars.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(chars), i + 1
        chars.append(char)
        i += 1
    raise QuerySyntaxError('unterminated quote: expected a closing "', start)


# ---------------------------------------------------------------------------- parser


def parse_query(text: str, *, zone: tzinfo = DEFAULT_ZONE) -> Query:
    """Parse an officer's query; raises ``QuerySyntaxError`` with the offending position."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"the query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    parser = _Parser(_tokenize(text), zone)
    if parser.peek().kind == "end":
        return MatchAll()
    query = parser.or_expr()
    end = parser.peek()
    if end.kind == "rparen":
        raise QuerySyntaxError("unbalanced ): no matching (", end.position)
    if end.kind != "end":  # pragma: no cover - or_expr consumes everything else
        raise QuerySyntaxError(f"unexpected {end.text!r}", end.position)
    return query


class _Parser:
    def __init__(self, tokens: list[_Token], zone: tzinfo) -> None:
        self._tokens = tokens
        self._index = 0
        self._zone = zone
        self._depth = 0

    def peek(self) -> _Token:
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def or_expr(self) -> Query:
        items = [self.and_expr()]
        while self.peek().kind == "or":
            self._next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Query:
        items = [self.unary()]
        while True:
            token = self.peek()
            if token.kind == "and":
                self._next()
                items.append(self.unary())
            elif token.kind in ("word", "phrase", "filter", "lparen", "not", "minus"):
                items.append(self.unary())
            else:
                break
        return items[0] if len(items) == 1 else And(tuple(items))

    def _enter(self, token: _Token) -> None:
        """One more level of nesting (a parenthesis or a negation), refused past the limit."""
        self._depth += 1
        if self._depth > MAX_QUERY_DEPTH:
            raise QuerySyntaxError(
                f"nested too deeply: at most {MAX_QUERY_DEPTH} parentheses and NOTs inside one another",
                token.position,
            )

    def unary(self) -> Query:
        token = self.peek()
        if token.kind in ("not", "minus"):
            self._next()
            self._enter(token)
            item = self.unary()
            self._depth -= 1
            return Not(item)
        return self.primary()

    def primary(self) -> Query:
        token = self._next()
        if token.kind == "lparen":
            self._enter(token)
            inner = self.or_expr()
            closing = self.peek()
            if closing.kind != "rparen":
                raise QuerySyntaxError("expected )", closing.position)
            self._next()
            self._depth -= 1
            return inner
        if token.kind == "filter":
            return self._filter(token)
        if token.kind in ("word", "phrase"):
            left = self._text(token)
            if self.peek().kind != "near":
                return left
            near = self._next()
            right_token = self._next()
            if right_token.kind not in ("word", "phrase"):
                raise QuerySyntaxError(f"expected a word or a quoted phrase after {near.text}", right_token.position)
            right = self._text(right_token)
            if self.peek().kind == "near":
                raise QuerySyntaxError(
                    "NEAR joins exactly two words or phrases; use AND between pairs", self.peek().position
                )
            return Near(left, right, near.distance)
        if token.kind == "near":
            raise QuerySyntaxError(f"{token.text} needs a word or phrase on its left", token.position)
        if token.kind == "rparen":
            raise QuerySyntaxError("expected a word, phrase or filter before )", token.position)
        if token.kind == "end":
            raise QuerySyntaxError("expected a word, phrase or filter", token.position)
        raise QuerySyntaxError(f"expected a word, phrase or filter before {token.text.upper()}", token.position)

    @staticmethod
    def _text(token: _Token) -> Term | Phrase:
        folded = fold_text(token.text)
        if not folded.strip():
            raise QuerySyntaxError("empty phrase", token.position)
        return Phrase(folded, token.text) if token.kind == "phrase" else Term(folded, token.text)

    def _filter(self, token: _Token) -> Filter:
        name, value = token.field_name, token.text
        value_position = token.position + len(name) + 1
        if name in ("after", "before"):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise QuerySyntaxError(f"{name}: takes a date like 2026-11-01", value_position) from None
            if not FIRST_FILTER_DAY <= day <= LAST_FILTER_DAY:
                raise QuerySyntaxError(
                    f"{name}: takes a date from {FIRST_FILTER_DAY.isoformat()} to {LAST_FILTER_DAY.isoformat()}",
                    value_position,
                )
            at = datetime(day.year, day.month, day.day, tzinfo=self._zone).astimezone(UTC)
            return Filter(name, value, at=at)
        if name == "dept":
            if value.isascii() and value.isdigit():
                if not is_department_id(value):
                    raise QuerySyntaxError("dept: takes a department id (a number) or name", value_position)
                return Filter(name, str(int(value)), position=value_position)
            return Filter(name, value, position=value_position)  # a name (search.names)
        choices = {"has": HAS_VALUES, "severity": SEVERITY_VALUES, "sentiment": SENTIMENT_VALUES}.get(name)
        if choices is not None:
            if value.lower() not in choices:
                raise QuerySyntaxError(f"{name}: takes one of {', '.join(choices)}", value_position)
            return Filter(name, value.lower())
        if name == "type":
            return Filter(name, value.lower())
        return Filter(name, value, position=value_position)


# ---------------------------------------------------------------------------- helpers


def walk(query: Query) -> Iterable[Query]:
    """Every node of ``query``, depth first."""
    yield query
    if isinstance(query, And | Or):
        for item in query.items:
            yield from walk(item)
    elif isinstance(query, Not):
        yield from walk(query.item)
    elif isinstance(query, Near):
        yield query.left
        yield query.right


def positive_texts(query: Query) -> list[Term | Phrase]:
    """The terms and phrases whose occurrences a hit shows highlighted (not those under NOT)."""
    found: list[Term | Phrase] = []

    def visit(node: Query) -> None:
        if isinstance(node, Term | Phrase):
            found.append(node)
        elif isinstance(node, And | Or):
            for item in node.items:
                visit(item)
        elif isinstance(node, Near):
            found.extend((node.left, node.right))

    visit(query)
    return found


def map_filters(query: Query, change: Callable[[Filter], Filter]) -> Query:
    """``query`` with every filter replaced by ``change(filter)`` (also under NOT and OR)."""
    if isinstance(query, Filter):
        return change(query)
    if isinstance(query, And):
        return And(tuple(map_filters(item, change) for item in query.items))
    if isinstance(query, Or):
        return Or(tuple(map_filters(item, change) for item in query.items))
    if isinstance(query, Not):
        return Not(map_filters(query.item, change))
    return query


def resolve_departments(query: Query, subtree: Callable[[int], Iterable[int]]) -> Query:
    """``query`` with every ``dept:`` filter expanded to its department subtree (a name
    nobody resolved stays empty).

    ``subtree(id)`` is e.g. ``lambda d: archive.directory.service.department_subtree(session, corp, d)``
    (``search.departments`` passes one over every corp in the caller's scope).
    """

    def expand(item: Filter) -> Filter:
        if item.field != "dept" or not is_department_id(item.value):
            return item
        root = int(item.value)
        return replace(item, department_ids=frozenset({root, *subtree(root)}))

    return map_filters(query, expand)
