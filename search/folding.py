"""Folding for the index: the same string as ``audit.text.fold.fold_text``, several times faster.

Indexing needs only the folded text, not the offset map ``fold`` builds character by
character, and chat text repeats a few thousand distinct characters: a per-character cache
turns NFKC + case folding into a dictionary lookup. The OpenCC step is identical.
``tests/search/test_folding.py`` checks equality with ``fold_text`` on a varied corpus.
"""

from __future__ import annotations

import unicodedata

from audit.text.fold import fold_chinese

_FOLDED: dict[str, str] = {}


def _fold_char(char: str) -> str:
    folded = _FOLDED.get(char)
    if folded is None:
        # As audit.text.fold: NFKC + casefold for non-ASCII and upper-case characters.
        folded = unicodedata.normalize("NFKC", char).casefold() if not char.isascii() or char.isupper() else char
        if len(_FOLDED) < 200_000:
            _FOLDED[char] = folded
    return folded


def fold_for_index(text: str) -> str:
    """``fold_text(text)``."""
    if text.isascii():
        return text.lower()
    if unicodedata.is_normalized("NFKC", text):
        # Each character is then NFKC-stable on its own too, and casefold maps character by
        # character, so this equals the per-character loop below (checked by the tests).
        joined = text.casefold()
    else:
        joined = "".join([_fold_char(char) for char in text])
    simplified = fold_chinese(joined)
    if len(simplified) != len(joined):
        simplified = "".join(fold_chinese(char) if len(fold_chinese(char)) == 1 else char for char in joined)
    return simplified
