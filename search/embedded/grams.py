"""Character pairs as index tokens: exact substring search for text of any length.

The folded text is indexed as the sequence of its overlapping character pairs (the last
character is paired with an end marker). Token ``i`` stands for the characters at ``i`` and
``i+1``, which makes FTS5 queries exact substring tests without a verification pass:

* a string of 2+ characters is the *phrase* of its pairs (consecutive token positions);
* a single character is the *prefix* of the pairs it starts (served by FTS5's prefix index).

FTS5's ``ascii`` tokenizer treats every non-ASCII character as part of a token and splits on
ASCII punctuation and spaces. So ASCII characters (letters, digits, spaces, punctuation) are
first moved to private-use code points ``U+F0000 + ord(c)``: then a token is exactly two
symbols and only our separating spaces split. The rare text that already contains
characters at or above ``U+F0000`` has them indexed as one shared marker; a query containing
one is verified against the folded text (``needs_verification``).

Why not the trigram tokenizer: it never matches 1- or 2-character terms (the most common
Chinese words), and Debian's SQLite 3.40 returns nothing for 2-character non-ASCII LIKE
patterns. Why not one token per character: a 3–4 character phrase of common characters
reads several huge position lists; pairs are ~100× more selective.
"""

from __future__ import annotations

from operator import add

_ASCII_BASE = 0xF0000
_RESERVED = "\U000f0000"  # code points >= this are not indexed individually
MARKER = "\U000f00ff"  # stands for any character >= U+F0000
END = "\U000f00fe"  # pairs with the last character
_ASCII = {code: chr(_ASCII_BASE + code) for code in range(128)}


def _symbols(folded: str) -> str:
    if folded and max(folded) >= _RESERVED:
        folded = "".join(MARKER if char >= _RESERVED else char for char in folded)
    return folded.translate(_ASCII)


def pair_tokens(folded: str) -> str:
    """The index input for a folded text: its character pairs, space separated."""
    if not folded:
        return ""
    symbols = _symbols(folded)
    return " ".join(map(add, symbols, symbols[1:] + END))


def needs_verification(folded: str) -> bool:
    """Whether a match on ``folded`` must be re-checked on the text (it has marker characters)."""
    return bool(folded) and max(folded) >= _RESERVED


def match_expression(folded: str) -> str:
    """The FTS5 query for "``folded`` occurs as a substring" (``folded`` is not empty)."""
    symbols = _symbols(folded)
    if len(symbols) == 1:
        return f'"{symbols}"*'
    return '"' + " ".join(map(add, symbols, symbols[1:])) + '"'
