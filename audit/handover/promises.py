"""Open promises: staff said they would come back to the customer and did not.

A staff message is a *promise* when its folded text contains a phrase of the maintained
list ``data/promises_zh.txt``. The promise is *kept* when a staff message follows it in
the same conversation at least ``PROMISE_FOLLOW_UP_MIN`` later: messages within that gap
belong to the same exchange (the customer's "好的", the staff's "有问题随时联系我") and do
not deliver what was promised. Anything later counts as the follow-up, whatever it says:
a heuristic that errs towards "kept" (a greeting weeks later closes the promise), so the
dossier's open promises are few and worth reading. A recalled message promises nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Final

from audit.text.fold import fold

PROMISE_FOLLOW_UP_MIN: Final = 30
EXCERPT_MAX_CHARS: Final = 60
MASK: Final = "*"
_LONG_NUMBER: Final = re.compile(r"\d{6,}")
_EMAIL: Final = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One sent message of a conversation, as the dossier reads it."""

    message_id: int
    msgid: str
    sender: str
    msgtime: datetime
    msgtype: str
    text: str | None
    staff: bool


@dataclass(frozen=True, slots=True)
class Promise:
    message_id: int
    at: datetime
    excerpt: str
    phrase: str


@cache
def promise_phrases() -> tuple[str, ...]:
    """The packaged phrase list, folded (longest first, so the reported phrase is the most specific)."""
    text = resources.files("audit.handover").joinpath("data/promises_zh.txt").read_text(encoding="utf-8")
    phrases = {fold(line.strip()).text for line in text.splitlines() if line.strip() and not line.startswith("#")}
    return tuple(sorted(phrases, key=lambda p: (-len(p), p)))


def matched_phrase(text: str, phrases: Sequence[str] | None = None) -> str | None:
    folded = fold(text).text
    return next((p for p in (phrases or promise_phrases()) if p in folded), None)


def open_promises(lines: Iterable[ChatLine], recalled_msgids: frozenset[str] = frozenset()) -> list[Promise]:
    """The promises in ``lines`` (one conversation, ordered by time) no staff message followed up."""
    gap = timedelta(minutes=PROMISE_FOLLOW_UP_MIN)
    phrases = promise_phrases()
    pending: list[Promise] = []
    for line in lines:
        if not line.staff:
            continue
        pending = [p for p in pending if line.msgtime - p.at < gap]  # a later staff message keeps them
        if line.text and line.msgid not in recalled_msgids:
            phrase = matched_phrase(line.text, phrases)
            if phrase is not None:
                pending.append(Promise(line.message_id, line.msgtime, excerpt(line.text), phrase))
    return pending


def excerpt(text: str) -> str:
    """At most ``EXCERPT_MAX_CHARS`` characters of ``text`` on one line, with long numbers
    (phones, cards, ids) and e-mail addresses masked: dossiers end up in printed reports."""
    flat = _EMAIL.sub("***@***", " ".join(text.split()))
    flat = _LONG_NUMBER.sub(lambda match: MASK * len(match.group()), flat)
    return flat if len(flat) <= EXCERPT_MAX_CHARS else flat[: EXCERPT_MAX_CHARS - 1] + "…"
