"""Short masked excerpts: the only chat text a notification may carry.

A reviewer needs enough to judge urgency ("加微*****聊"), never the message itself: the
span is cut to a few characters of context, every digit is masked (numbers are what
leaks: phones, cards, ids) and the match keeps only its first character.
"""

from __future__ import annotations

EXCERPT_CONTEXT_CHARS = 6
EXCERPT_MAX_CHARS = 40
MASK = "*"


def masked_excerpt(text: str, start: int | None, end: int | None) -> str:
    """A masked excerpt around ``text[start:end]`` (or of the text's start without a span)."""
    if start is None or end is None or not 0 <= start <= end <= len(text):
        start = end = 0
    left = max(0, start - EXCERPT_CONTEXT_CHARS)
    right = min(len(text), end + EXCERPT_CONTEXT_CHARS)
    before = _mask_digits(text[left:start])
    match = text[start:end]
    masked_match = match[:1] + MASK * (len(match) - 1) if match and not match[0].isdigit() else MASK * len(match)
    after = _mask_digits(text[end:right])
    excerpt = ("…" if left > 0 else "") + before + masked_match + after + ("…" if right < len(text) else "")
    excerpt = " ".join(excerpt.split())  # no line breaks in a one-line excerpt
    return excerpt[:EXCERPT_MAX_CHARS]


def _mask_digits(part: str) -> str:
    return "".join(MASK if ch.isdigit() else ch for ch in part)
