"""Folding text to one canonical form while remembering where each character came from.

``fold`` applies NFKC (full-width → half-width, compatibility forms), case folding and
traditional → simplified Chinese (OpenCC ``t2s``). Search indexes and queries the folded
form; detectors build their evasion-resistant steps on top of it. ``Folded.origin`` maps
every folded character back to the original one, so highlights land on the characters the
user actually wrote, whatever the match was made on.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import opencc


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@dataclass(frozen=True, slots=True)
class Folded:
    """``text`` is the folded form; ``origin[i]`` is the index in ``original`` that folded
    character ``i`` came from (non-decreasing)."""

    original: str
    text: str
    origin: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span ``[start', end')`` covering folded span ``[start, end)``."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span {start}:{end} is outside the folded text of length {len(self.text)}")
        return self.origin[start], self.origin[end - 1] + 1

    def drop(self, unwanted: Callable[[str], bool]) -> Folded:
        """The same text without the characters ``unwanted`` selects (offsets kept)."""
        keep = [i for i, char in enumerate(self.text) if not unwanted(char)]
        return Folded(self.original, "".join(self.text[i] for i in keep), tuple(self.origin[i] for i in keep))

    def substitute(self, mapping: Callable[[str], str]) -> Folded:
        """Replace each character by ``mapping(char)`` (any length, offsets kept)."""
        chars: list[str] = []
        origin: list[int] = []
        for char, source in zip(self.text, self.origin, strict=True):
            replacement = mapping(char)
            chars.append(replacement)
            origin.extend([source] * len(replacement))
        return Folded(self.original, "".join(chars), tuple(origin))


def _fold_char(char: str) -> str:
    return unicodedata.normalize("NFKC", char).casefold()


def fold(text: str) -> Folded:
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char) if not char.isascii() or char.isupper() else char
        chars.append(folded)
        origin.extend([index] * len(folded))
    joined = "".join(chars)
    simplified = fold_chinese(joined)
    if len(simplified) != len(joined):
        # OpenCC phrase rules almost always keep the length; where they do not, convert
        # character by character so offsets stay exact.
        simplified = "".join(fold_chinese(char) if len(fold_chinese(char)) == 1 else char for char in joined)
    return Folded(text, simplified, tuple(origin))


def fold_chinese(text: str) -> str:
    """Traditional → simplified (identity on text without Han characters)."""
    if text.isascii():
        return text
    return str(_t2s().convert(text))


def fold_text(text: str) -> str:
    """Only the folded string (query terms, index input)."""
    return fold(text).text
