"""Evasion-resistant views of chat text for the detectors, each mapping back to the original.

Staff who know keywords are watched write ``加 微 信``, ``加-微-信``, ``加\\u200b微信``, ``V信``,
``ＶＸ`` or ``一三八…`` for a phone number. A ``Normaliser`` turns one text into three views,
all ``Folded`` values whose ``origin`` maps every character back to the original text:

- ``folded``: per character NFKC (full-width → half-width), case folding and traditional →
  simplified. Character by character (not OpenCC's phrase rules, which ``fold`` uses for
  search) from one precomputed table, so every offset stays 1:1; texts without a character
  to fold (most) are not touched. Full-width punctuation that would become ``,!?;:()`` stays
  as written: it is a separator either way.
- ``compact``: ``folded`` without separators (spaces, punctuation, symbols, emoji, zero-width
  characters), then contact-channel variants replaced by their canonical form (``v信`` →
  ``微信``). Lexicon terms and "微信号: xxx" patterns match here. A separator run between two
  ASCII words is kept (``add vx`` stays two words); single letters collapse (``v x``).
- ``numerals``: ``folded`` with Chinese numerals as digits (一三八 → 138; full-width and
  circled digits are already digits after NFKC), 1:1, for phone/ID/bank-card numbers;
  ``None`` when the text has no run of 7 digits (separators of up to 3 characters allowed).

The same regexes and tables also run on a whole batch of texts joined by ``BATCH_DELIMITER``
(``fast_fold_batch``, ``compact_plain``, ``digit_run_re``): the engine uses that to find the
few messages with any candidate at C speed and builds the per-message views (with offsets)
only for those. Both paths apply the same substitutions, so they produce the same text (a
test holds them equal on thousands of simulated phrases). Speed comes from staying in C: no
per-character Python loops and no regex callbacks on the batch path, and character classes
limited to the BMP (``re`` matches a class reaching above U+FFFF range by range, ~10x
slower); the rare characters above it are folded per text or stood in for 1:1.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import opencc

from audit.text.fold import Folded

# Joins the texts of a batch; never a separator, never folded, never inside a term.
BATCH_DELIMITER = "\uffff"

# Code points that fold to something: the BMP, mathematical alphanumerics (𝐕𝐗), enclosed
# alphanumerics (🅥) and the CJK compatibility ideographs supplement.
_FOLD_RANGES = ((0, 0xFFFE), (0x1D400, 0x1D7FF), (0x1F100, 0x1F1FF), (0x2F800, 0x2FA1F))
_BMP_MAX = 0xFFFF
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
# Stands in (1:1) for separators above the BMP inside the compacting passes: itself a
# separator, and not one a kept run keeps as written, so the output is the same.
_ASTRAL_SEPARATOR_STANDIN = "\u2063"
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad"
_SEPARATOR_CATEGORIES = ("P", "S", "Z", "Cc", "Cf", "Mn", "Me")

# Numerals people spell phone numbers with (幺 = 1 and 两 = 2 as read aloud).
_NUMERALS = {
    "〇": "0", "零": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "八": "8", "九": "9", "壹": "1", "贰": "2", "叁": "3",
    "肆": "4", "伍": "5", "陆": "6", "柒": "7", "捌": "8", "玖": "9",
}  # fmt: skip
_DIGIT_RUN_MIN = 7
# A kept separator run (between ASCII words) keeps these ASCII separators as themselves and
# turns any other separator into a space.
_KEPT_AS_IS = " _-.:/@#&=+%~'"
# Full-width punctuation that folds to these stays as written: it is a separator either way,
# and leaving "，" alone spares most Chinese messages the (slow) per-character translation.
_UNFOLDED_PUNCTUATION = frozenset(",!?;:()[]{}<>\"'")


@dataclass(frozen=True, slots=True)
class _Tables:
    fold: dict[int, str]  # code point → its one-character folded form
    fold_re: re.Pattern[str]  # any character ``fold`` changes
    complex_re: re.Pattern[str]  # characters that fold to zero or several characters
    separators: str  # a regex character-class body
    separator_chars: frozenset[str]
    # The same sets split at the BMP: a class with ranges above U+FFFF is matched range by
    # range (~10x slower per character), so batch scans use BMP-only classes and handle
    # the few characters above it separately.
    fold_or_complex_bmp: str
    separators_bmp: str
    separators_astral: str


def _class_body(code_points: list[int]) -> str:
    """A compact ``[...]`` body for a sorted list of code points (ranges where contiguous)."""
    parts: list[str] = []
    start = prev = -2
    for point in [*code_points, -1]:
        if point == prev + 1:
            prev = point
            continue
        if start >= 0:
            parts.append(re.escape(chr(start)) if start == prev else f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
        start = prev = point
    return "".join(parts)


@cache
def _tables() -> _Tables:
    """Built once per process (~0.2 s): every code point's fold, from unicodedata and OpenCC."""
    fold: dict[int, str] = {}
    complex_points: list[int] = []
    separator_points: list[int] = []
    for low, high in _FOLD_RANGES:
        for point in range(low, high + 1):
            char = chr(point)
            if 0xD800 <= point <= 0xDFFF or char == BATCH_DELIMITER:
                continue
            folded = unicodedata.normalize("NFKC", char).casefold()
            if len(folded) != 1:
                complex_points.append(point)
            elif folded != char and not (folded in _UNFOLDED_PUNCTUATION or folded.isspace()):
                fold[point] = folded
            category = unicodedata.category(folded if len(folded) == 1 else char)
            if category.startswith(_SEPARATOR_CATEGORIES) or char in _ZERO_WIDTH:
                separator_points.append(point)
    # Traditional → simplified per character, after NFKC (one OpenCC call for all CJK).
    converter = opencc.OpenCC("t2s")
    cjk = [chr(p) for low, high in _CJK_RANGES for p in range(low, high + 1)]
    sources = [fold.get(ord(char), char) for char in cjk]
    simplified = str(converter.convert("\n".join(sources))).split("\n")
    if len(simplified) == len(sources):
        for char, source, target in zip(cjk, sources, simplified, strict=True):
            if len(target) == 1 and target != source:
                fold[ord(char)] = target
    # Emoji outside the BMP are separators too (微❤信, 加🌹微🌹信).
    separator_points.extend(range(0x1F000, 0x1FAFF + 1))
    separator_points = sorted(set(separator_points) - {ord(BATCH_DELIMITER)})
    return _Tables(
        fold=fold,
        fold_re=re.compile(f"[{_class_body(sorted(fold))}]"),
        complex_re=re.compile(f"[{_class_body(complex_points)}]"),
        separators=_class_body(separator_points),
        separator_chars=frozenset(map(chr, separator_points)),
        fold_or_complex_bmp=_class_body(sorted(p for p in {*fold, *complex_points} if p <= _BMP_MAX)),
        separators_bmp=_class_body([p for p in separator_points if p <= _BMP_MAX]),
        separators_astral=_class_body([p for p in separator_points if p > _BMP_MAX]),
    )


class TextViews:
    """The views of one text; ``compact`` and ``numerals`` are built on first use (a text
    that is only a number candidate never pays for the compact view)."""

    __slots__ = ("_compact", "_normaliser", "_numerals", "_numerals_built", "folded")

    def __init__(self, normaliser: Normaliser, folded: Folded) -> None:
        self._normaliser = normaliser
        self.folded = folded
        self._compact: Folded | None = None
        self._numerals: Folded | None = None
        self._numerals_built = False

    @property
    def compact(self) -> Folded:
        if self._compact is None:
            self._compact = self._normaliser.compact_view(self.folded)
        return self._compact

    @property
    def numerals(self) -> Folded | None:
        if not self._numerals_built:
            self._numerals = self._normaliser.numerals_view(self.folded)
            self._numerals_built = True
        return self._numerals


class Normaliser:
    """Builds the detector views of a text; ``variants`` maps spellings to canonical forms
    (``{"V信": "微信", "扣扣": "QQ"}``, folded here, so write them as people do)."""

    def __init__(self, variants: Mapping[str, str]) -> None:
        tables = _tables()
        self._fold_table = tables.fold
        self._fold_re = tables.fold_re
        # Batches: any character that may fold (a superset: every character above the BMP).
        self._batch_fold_re = re.compile(f"[{tables.fold_or_complex_bmp}\U00010000-\U0010ffff]")
        self._complex_re = tables.complex_re
        sep = tables.separators_bmp  # separators above the BMP are stood in for first
        self._astral_separator_re = re.compile(f"[{tables.separators_astral}]")
        # Separator runs are dropped, except between two ASCII words where they stay, as
        # written if ASCII or else as spaces ("add vx" stays two words); single letters
        # collapse ("v x", "q q"). Three callback-free passes, so a batch and a text take
        # the same C-speed path: drop the runs between single letters, drop every run not
        # between two ASCII words (a match never starts mid-run: its look-behind sees a
        # separator there), then turn
        # the other separators left in kept runs into spaces (1:1, rare).
        # Each starts with the separator class and looks behind after it (".") so the regex
        # engine scans for separators at C speed instead of trying every position.
        self._single_run_re = re.compile(rf"[{sep}](?<=[a-z].)(?<![a-zA-Z][a-z].)[{sep}]*+(?=[a-z](?![a-zA-Z]))")
        self._dropped_run_re = re.compile(
            rf"[{sep}](?:(?<![a-z0-9{sep}].)[{sep}]*+|(?<=[a-z0-9].)[{sep}]*+(?![a-z0-9]))"
        )
        self._keep_re = re.compile(rf"[a-z0-9][{sep}]++(?=[a-z0-9])")
        kept_other = sorted(set(map(ord, tables.separator_chars)) - set(map(ord, _KEPT_AS_IS)))
        self._kept_other_re = re.compile(f"[{_class_body([p for p in kept_other if p <= _BMP_MAX])}]")
        separator_re = re.compile(f"[{tables.separators}]")
        folded_variants = {self.fold_plain(key): self.fold_plain(value) for key, value in variants.items() if key}
        # Variants spelled with a symbol (微❤) are replaced before separators are dropped.
        self._pre_variants = {k: v for k, v in folded_variants.items() if k != v and separator_re.search(k)}
        self._variants = {k: v for k, v in folded_variants.items() if k != v and not separator_re.search(k)}
        self._pre_variant_re = _alternation(self._pre_variants)
        self._variant_re = _alternation(self._variants)
        self._numeral_table = str.maketrans(_NUMERALS)
        self.separator_class = tables.separators
        self._separator_chars = tables.separator_chars
        digit = "[0-9" + "".join(_NUMERALS) + "]"
        # Finds digit runs in folded text directly (numerals included), so batches skip the
        # translation; on text passed through ``bmp_separators``.
        self.digit_run_re = re.compile(rf"{digit}(?:[{sep}]{{0,3}}{digit}){{{_DIGIT_RUN_MIN - 1},}}")

    # --- plain strings (no offsets): batches and terms --------------------------------------

    def fold_plain(self, text: str) -> str:
        if self._complex_re.search(text):
            return self.fold(text).text
        return text.translate(self._fold_table) if self._fold_re.search(text) else text

    def compact_plain(self, folded: str) -> str:
        if self._pre_variant_re is not None:
            folded = self._pre_variant_re.sub(self._replace_pre_variant, folded)
        compact = self._dropped_run_re.sub("", self._single_run_re.sub("", self.bmp_separators(folded)))
        if self._kept_other_re.search(compact):
            compact = self._kept_other_re.sub(" ", compact)
        if self._variant_re is not None:
            compact = self._variant_re.sub(self._replace_variant, compact)
        return compact

    def bmp_separators(self, text: str) -> str:
        """``text`` with separators above the BMP replaced by one inside it (1:1)."""
        if _ASTRAL_RE.search(text) is None:
            return text
        return self._astral_separator_re.sub(_ASTRAL_SEPARATOR_STANDIN, text)

    def term(self, term: str) -> str:
        """A lexicon term in the form it is matched in (folded and compacted)."""
        return self.compact_plain(self.fold_plain(term))

    def _replace_variant(self, match: re.Match[str]) -> str:
        return self._variants[match.group()]

    def _replace_pre_variant(self, match: re.Match[str]) -> str:
        return self._pre_variants[match.group()]

    # --- one text with offsets ------------------------------------------------------------

    def fold(self, text: str) -> Folded:
        if not self._complex_re.search(text):
            return Folded(text, self.fold_plain(text), tuple(range(len(text))))
        chars: list[str] = []
        origin: list[int] = []
        for index, char in enumerate(text):
            folded = char.translate(self._fold_table)
            if self._complex_re.match(char):
                folded = unicodedata.normalize("NFKC", char).casefold().translate(self._fold_table)
            chars.append(folded)
            origin.extend([index] * len(folded))
        return Folded(text, "".join(chars), tuple(origin))

    def views(self, text: str) -> TextViews:
        return TextViews(self, self.fold(text))

    def compact_view(self, folded: Folded) -> Folded:
        plain, text = folded.text, folded.original
        has_pre_variant = self._pre_variant_re is not None and self._pre_variant_re.search(plain)
        if not has_pre_variant and not self._keep_re.search(self.bmp_separators(plain)):
            # The usual case: separators are only deleted, so the kept characters are the map.
            separators = self._separator_chars
            kept = [index for index, char in enumerate(plain) if char not in separators]
            origin = folded.origin
            compact = Folded(text, "".join([plain[i] for i in kept]), tuple([origin[i] for i in kept]))
        else:
            compact = folded
            if self._pre_variant_re is not None:
                compact = _replace(compact, self._pre_variant_re, self._replace_pre_variant)
            compact = Folded(text, self.bmp_separators(compact.text), compact.origin)
            compact = _remove(_remove(compact, self._single_run_re), self._dropped_run_re)
            if self._kept_other_re.search(compact.text):
                compact = Folded(text, self._kept_other_re.sub(" ", compact.text), compact.origin)
        if self._variant_re is not None and self._variant_re.search(compact.text):
            compact = _replace(compact, self._variant_re, self._replace_variant)
        return compact

    def numerals_view(self, folded: Folded) -> Folded | None:
        if not self.digit_run_re.search(self.bmp_separators(folded.text)):
            return None
        return Folded(folded.original, folded.text.translate(self._numeral_table), folded.origin)

    def fast_fold_batch(self, texts: list[str]) -> str:
        """The folded texts joined by ``BATCH_DELIMITER`` (one C-speed pass for the batch)."""
        joined = BATCH_DELIMITER.join(texts)
        if joined.count(BATCH_DELIMITER) != len(texts) - 1:
            texts = [text.replace(BATCH_DELIMITER, "\ufffd") for text in texts]
            joined = BATCH_DELIMITER.join(texts)
        first = self._batch_fold_re.search(joined)
        if first is None:
            return joined
        # Only the texts with something to fold pay for the per-character translation; one
        # search per such text (the next starts at the following text).
        folded = list(texts)
        match: re.Match[str] | None = first
        index = last = 0
        while match is not None:
            index += joined.count(BATCH_DELIMITER, last, match.start())
            folded[index] = self.fold_plain(texts[index])
            last = joined.find(BATCH_DELIMITER, match.start())
            match = self._batch_fold_re.search(joined, last) if last >= 0 else None
        return BATCH_DELIMITER.join(folded)


def _alternation(variants: Mapping[str, str]) -> re.Pattern[str] | None:
    """Longest first; ASCII variants ("vx", "wx") only as whole ASCII words: "wxyz" is not WeChat."""
    keys = sorted(variants, key=len, reverse=True)
    # The lookbehind follows the first character so every branch starts with a literal (fast scan).
    alternatives = [
        rf"{re.escape(k[0])}(?<![a-z].){re.escape(k[1:])}(?![a-z])" if k.isascii() else re.escape(k) for k in keys
    ]
    return re.compile("|".join(alternatives)) if alternatives else None


def _remove(view: Folded, pattern: re.Pattern[str]) -> Folded:
    """``view`` without what ``pattern`` matches (exactly what ``pattern.sub("", ...)`` removes)."""
    text, origin = view.text, view.origin
    pieces: list[str] = []
    kept: list[int] = []
    last = 0
    for match in pattern.finditer(text):
        pieces.append(text[last : match.start()])
        kept.extend(origin[last : match.start()])
        last = match.end()
    if last == 0:
        return view
    pieces.append(text[last:])
    kept.extend(origin[last:])
    return Folded(view.original, "".join(pieces), tuple(kept))


def _replace(view: Folded, pattern: re.Pattern[str], replacement: Callable[[re.Match[str]], str]) -> Folded:
    """``pattern.sub(replacement, ...)`` with offsets: a replacement's first and last
    characters map to the first and last characters it replaced, so highlights cover them."""
    text, origin = view.text, view.origin
    pieces: list[str] = []
    mapped: list[int] = []
    last = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        pieces.append(text[last:start])
        mapped.extend(origin[last:start])
        new = replacement(match)
        sources = origin[start:end]
        pieces.append(new)
        mapped.extend(sources[min(i, len(sources) - 1)] if i < len(new) - 1 else sources[-1] for i in range(len(new)))
        last = end
    if last == 0:
        return view
    pieces.append(text[last:])
    mapped.extend(origin[last:])
    return Folded(view.original, "".join(pieces), tuple(mapped))
