"""Rule sets as plain values: what the engine compiles, whether they come from the database,
from a CSV/Excel file or are built in memory (tests, ``detect`` without a database, H5's
simulation of a draft rule)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from audit.detect.hits import Severity
from audit.errors import InvalidInput

Direction = Literal["staff", "customer", "any"]
ChatKindScope = Literal["single", "group", "internal", "any"]
TermKind = Literal["term", "exclusion", "allow_context"]

DIRECTIONS: tuple[Direction, ...] = ("staff", "customer", "any")
CHAT_KIND_SCOPES: tuple[ChatKindScope, ...] = ("single", "group", "internal", "any")
TERM_KINDS: tuple[TermKind, ...] = ("term", "exclusion", "allow_context")


class RuleError(InvalidInput, ValueError):
    """A rule or a rule file is invalid; the message names the row/field to fix. Still a
    ``ValueError``: file readers catch that for every malformed row."""


@dataclass(frozen=True, slots=True)
class LexiconGroup:
    """One word group: its terms fire as ``rule=name`` with its category and severity.

    Scope: empty ``departments``/``employees``/``rooms`` mean everywhere; otherwise a message
    is in scope if its sender is one of ``employees``, belongs to one of ``departments``
    (or a sub-department) or it was sent in one of ``rooms``. ``exclusions`` are longer
    phrases that contain a term and are fine (``返利活动规则``); a message containing one of
    ``allowed_contexts`` raises nothing from this group.
    """

    name: str
    category: str
    severity: Severity
    terms: tuple[str, ...]
    direction: Direction = "any"
    chat_kind: ChatKindScope = "any"
    departments: frozenset[int] = frozenset()
    employees: frozenset[str] = frozenset()
    rooms: frozenset[str] = frozenset()
    exclusions: tuple[str, ...] = ()
    allowed_contexts: tuple[str, ...] = ()
    enabled: bool = True
    version: int = 1

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise RuleError("a lexicon group needs a name")
        if self.direction not in DIRECTIONS:
            raise RuleError(f"group {self.name!r}: direction must be one of {', '.join(DIRECTIONS)}")
        if self.chat_kind not in CHAT_KIND_SCOPES:
            raise RuleError(f"group {self.name!r}: chat_kind must be one of {', '.join(CHAT_KIND_SCOPES)}")

    def texts_by_kind(self) -> tuple[tuple[TermKind, tuple[str, ...]], ...]:
        return (("term", self.terms), ("exclusion", self.exclusions), ("allow_context", self.allowed_contexts))

    @property
    def scoped(self) -> bool:
        return bool(self.departments or self.employees or self.rooms)

    def fingerprint_parts(self) -> Iterable[str]:
        yield from (self.name, self.category, self.severity.value, self.direction, self.chat_kind)
        yield ",".join(map(str, sorted(self.departments)))
        yield ",".join(sorted(self.employees))
        yield ",".join(sorted(self.rooms))
        yield str(self.enabled)
        for kind, texts in (("t", self.terms), ("x", self.exclusions), ("a", self.allowed_contexts)):
            yield from (f"{kind}:{text}" for text in sorted(texts))


@dataclass(frozen=True)
class RuleSet:
    """The lexicon groups one engine is compiled from. ``version`` is a short content hash,
    so two rule sets with the same rules compare (and cache) as equal wherever they came from."""

    groups: tuple[LexiconGroup, ...]
    version: str = field(default="")

    def __post_init__(self) -> None:
        names = [group.name for group in self.groups]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise RuleError(f"lexicon group names must be unique: {', '.join(duplicates)}")
        if not self.version:
            digest = hashlib.sha256()
            for group in sorted(self.groups, key=lambda g: g.name):
                for part in group.fingerprint_parts():
                    digest.update(part.encode())
                    digest.update(b"\x00")
            object.__setattr__(self, "version", digest.hexdigest()[:16])

    @property
    def enabled_groups(self) -> tuple[LexiconGroup, ...]:
        return tuple(group for group in self.groups if group.enabled)

    def with_group(self, group: LexiconGroup) -> RuleSet:
        """This rule set plus ``group`` (replacing a group of the same name): a draft to simulate."""
        return RuleSet((*(g for g in self.groups if g.name != group.name), group))
