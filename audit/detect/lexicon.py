"""The lexicon detector: every enabled word group of a rule set in one Aho-Corasick automaton
over the ``compact`` view (separators gone, variants canonical), scoped per message."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

import ahocorasick

from audit.detect.context import MessageContext
from audit.detect.hits import Hit
from audit.detect.rules.spec import LexiconGroup, RuleSet
from audit.text.fold import Folded
from audit.text.normalise import Normaliser, TextViews

LEXICON_VERSION = "1"

_Kind = Literal["term", "exclusion", "allow_context"]


@dataclass(frozen=True, slots=True)
class _Entry:
    group: int  # index into LexiconDetector.groups
    kind: _Kind
    length: int  # of the matched key, in view characters


class LexiconDetector:
    name = "lexicon"
    version = LEXICON_VERSION

    def __init__(self, rules: RuleSet, normaliser: Normaliser, *, pinyin: bool = False) -> None:
        self.groups: tuple[LexiconGroup, ...] = rules.enabled_groups
        self._normaliser = normaliser
        self._automaton = _build(self.groups, normaliser.term)
        self._pinyin = _build(self.groups, lambda t: _pinyin_of(normaliser.term(t)), han_only=True) if pinyin else None

    @property
    def needs_every_text(self) -> bool:
        """Pinyin matching needs every text's per-message view (the opt-in's cost)."""
        return self._pinyin is not None

    def candidate_positions(self, compact: str, delimiter: str) -> list[int]:
        """One position per text of a ``delimiter``-joined batch in which any key occurs."""
        if self._automaton is None:
            return []
        positions: list[int] = []
        text_end = -1
        for end, _ in self._automaton.iter(compact):
            if end > text_end:
                positions.append(end)
                text_end = compact.find(delimiter, end)
                if text_end < 0:
                    break
        return positions

    def detect(self, message: MessageContext, views: TextViews) -> list[Hit]:
        found: list[tuple[int, int, int, Folded]] = []  # (group, start, end, view)
        excluded: dict[int, list[tuple[int, int]]] = defaultdict(list)
        allowed: set[int] = set()
        passes: list[tuple[ahocorasick.Automaton | None, Folded]] = [(self._automaton, views.compact)]
        if self._pinyin is not None:
            passes.append((self._pinyin, views.compact.substitute(_char_pinyin)))
        for automaton, view in passes:
            if automaton is None:
                continue
            for end_index, entries in automaton.iter(view.text):
                for entry in entries:
                    start = end_index + 1 - entry.length
                    if entry.kind == "term":
                        if view is views.compact and not _word_bounded(view.text, start, end_index + 1):
                            continue
                        found.append((entry.group, start, end_index + 1, view))
                    elif entry.kind == "exclusion":
                        excluded[entry.group].append(view.to_original(start, end_index + 1))
                    else:
                        allowed.add(entry.group)
        hits: list[Hit] = []
        seen: dict[int, list[tuple[int, int]]] = defaultdict(list)
        # Longest first, so "加微信" wins over "微信" inside it for the same group.
        for group_index, start, end, view in sorted(found, key=lambda f: (f[0], f[1] - f[2])):
            group = self.groups[group_index]
            if group_index in allowed or not applies(group, message):
                continue
            original = view.to_original(start, end)
            if any(s <= original[0] and original[1] <= e for s, e in excluded[group_index]):
                continue
            # One hit per stretch of text and group ("加微信" and "微信聊" in "加微信聊").
            if any(s < original[1] and original[0] < e for s, e in seen[group_index]):
                continue
            seen[group_index].append(original)
            hits.append(
                Hit(
                    detector=self.name,
                    detector_version=self.version,
                    category=group.category,
                    rule=group.name,
                    severity=group.severity,
                    start=original[0],
                    end=original[1],
                    matched=view.original[original[0] : original[1]],
                    normalised=view.text[start:end],
                    detail=f"lexicon group {group.name!r}" + (" (pinyin)" if view is not views.compact else ""),
                )
            )
        return hits


def _word_bounded(text: str, start: int, end: int) -> bool:
    """ASCII terms match whole ASCII words only: "sb" in "你是sb吗" but not in "usb" (digits
    may follow: "加qq12345")."""
    if _is_ascii_letter(text[start]) and start > 0 and _is_ascii_letter(text[start - 1]):
        return False
    return not (_is_ascii_letter(text[end - 1]) and end < len(text) and _is_ascii_letter(text[end]))


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def applies(group: LexiconGroup, message: MessageContext) -> bool:
    """Whether a group's direction, chat kind and scope cover this message."""
    if group.direction == "staff" and not message.sender_is_staff:
        return False
    if group.direction == "customer" and message.sender_is_staff:
        return False
    if group.chat_kind == "internal" and message.has_external:
        return False
    if group.chat_kind == "group" and not message.roomid:
        return False
    if group.chat_kind == "single" and message.roomid:
        return False
    if not group.scoped:
        return True
    return (
        message.sender in group.employees
        or (message.roomid is not None and message.roomid in group.rooms)
        or not group.departments.isdisjoint(message.sender_department_ids)
    )


def _build(
    groups: tuple[LexiconGroup, ...], key_of: Callable[[str], str], *, han_only: bool = False
) -> ahocorasick.Automaton | None:
    entries: dict[str, list[_Entry]] = defaultdict(list)
    for index, group in enumerate(groups):
        for kind, texts in group.texts_by_kind():
            for text in texts:
                if han_only and not any("\u4e00" <= char <= "\u9fff" for char in text):
                    continue
                key = key_of(text)
                if key:
                    entries[key].append(_Entry(index, kind, len(key)))
    if not entries:
        return None
    automaton = ahocorasick.Automaton()
    for key, values in entries.items():
        automaton.add_word(key, tuple(values))
    automaton.make_automaton()
    return automaton


@cache
def _char_pinyin(char: str) -> str:
    if not "\u4e00" <= char <= "\u9fff":
        return "" if char.isspace() else char
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(char))


def _pinyin_of(text: str) -> str:
    return "".join(_char_pinyin(char) for char in text)
