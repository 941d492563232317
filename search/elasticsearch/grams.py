"""Characters as Elasticsearch tokens: exact substring search with only built-in analysis.

Elasticsearch's ``standard`` tokenizer (the one tokenizer every distribution has without
modules or plugins) emits one token per CJK character but drops punctuation and spaces and
keeps Latin runs whole, so a phrase query over it both misses (``x1`` in ``vx123``) and
over-matches (``ab`` in ``a,b``). So the folded text is encoded first: every character
becomes four base-36 digits (36**4 > 0x10FFFF), a word the tokenizer keeps whole and never
drops. Token ``i`` is character ``i`` of the folded text, so

* a string occurs exactly where the *phrase* of its codes occurs (one code: a term query);
* positions count characters, which makes ``NEAR/n`` an ``intervals`` query with
  ``max_gaps = n``.

Why single characters and not character pairs (as ``search.embedded.grams`` does for SQLite
FTS5): measured on 50,000 chat messages, Lucene's phrase matching answers 2- to 4-character
phrases of single-character tokens as fast as pair terms, while pairs need a second
(prefix) index for 1-character queries and made the index build 2.3× slower.
"""

from __future__ import annotations

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
CODE_WIDTH = 4


def encode_char(char: str) -> str:
    """The four base-36 digits of ``char``'s code point."""
    code = ord(char)
    digits = []
    for _ in range(CODE_WIDTH):
        code, digit = divmod(code, 36)
        digits.append(_DIGITS[digit])
    return "".join(reversed(digits))


class _Codes(dict[int, str]):
    """Code point -> "code " for ``str.translate``, filled on first sight of a character:
    translating in C is ~10x faster than joining per-character lookups (indexing speed)."""

    def __missing__(self, code: int) -> str:
        value = encode_char(chr(code)) + " "
        if len(self) < 200_000:
            self[code] = value
        return value


_CODES = _Codes()


def char_tokens(folded: str) -> str:
    """The index input (and the phrase query) for a folded text: its codes, space separated."""
    return folded.translate(_CODES)[:-1]
