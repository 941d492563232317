"""Highlight spans: where the query's terms occur, as offsets in the ORIGINAL text.

Matching happens on the folded text; ``Folded.to_original`` maps each span back, so a hit
on ``返利`` highlights the traditional characters the sender typed, and ``vx`` highlights
``ＶＸ``. Both backends call this on the page they return, so highlights are identical.
"""

from __future__ import annotations

from audit.text.fold import fold
from search.matching import occurrences
from search.query import Query, positive_texts


def highlight_spans(query: Query, text: str) -> tuple[tuple[int, int], ...]:
    """Sorted, merged ``[start, end)`` spans of every occurrence of the query's positive
    terms and phrases (those not under NOT) in ``text``."""
    needles = {node.text for node in positive_texts(query)}
    if not needles or not text:
        return ()
    folded = fold(text)
    spans: list[tuple[int, int]] = []
    for needle in needles:
        for start in occurrences(needle, folded.text):
            spans.append(folded.to_original(start, start + len(needle)))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)
