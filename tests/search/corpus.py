"""A corpus with known occurrences, shared by the contract suite.

Filler text is drawn from characters that are not part of any planted term (nor fold to
one), and planted terms are separated by filler, so a term occurs in a document exactly
when it was planted there (or a planted form folds to it): the expected result of every
term query is known by construction, not by running a search.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.text.fold import fold_text
from search.backend import SearchDocument

START = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)

# term → the written forms planted for it (each folds to the term).
PLANTED: dict[str, tuple[str, ...]] = {
    "鑫": ("鑫",),  # 1 character
    "返利": ("返利",),  # 2 characters
    "零风险": ("零风险", "零風險"),  # 3 characters, also written traditionally
    "私下转账": ("私下转账", "私下轉賬"),  # 4 characters, also traditional
    "vx123": ("vx123", "ＶＸ１２３", "VX123"),  # mixed Latin/digits, also full-width and upper case
    "好 处费": ("好 处费",),  # a phrase with a space
}
_FILLER_SOURCE = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能过子说产种面而方后多定"
    "行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实量都两体制机当使点从业本去把性应开它合还因由其些"
)
_PLANTED_CHARS = {char for term in PLANTED for char in fold_text(term)}
FILLER = "".join(sorted({c for c in _FILLER_SOURCE if fold_text(c) == c and c not in _PLANTED_CHARS}))

SENDERS = ("zhangsan", "lisi", "wmcustomer1", "wmcustomer2")
STAFF_DEPARTMENTS = {"zhangsan": (2,), "lisi": (3,), "wangwu": (4,)}
ROOMS = (None, "wr-room-a", "wr-room-b")
TYPES = ("text", "text", "text", "image", "file")
RULES = (("kickback.cash", "kickback", "high"), ("pii.mobile", "pii", "medium"))


@dataclass(frozen=True)
class Corpus:
    docs: list[SearchDocument]
    planted: dict[str, set[str]]  # term → msgids it occurs in

    def by_msgid(self) -> dict[str, SearchDocument]:
        return {doc.msgid: doc for doc in self.docs}


def filler(rng: random.Random, low: int = 2, high: int = 9) -> str:
    return "".join(rng.choice(FILLER) for _ in range(rng.randint(low, high)))


def make_document(number: int, text: str, rng: random.Random, **overrides: object) -> SearchDocument:
    sender = SENDERS[number % len(SENDERS)]
    other = "lisi" if sender != "lisi" else "zhangsan"
    recipients = (other,) if number % 5 else (other, "wangwu")
    people = (sender, *recipients)
    staff = tuple(sorted({p for p in people if not p.startswith("wm")}))
    customers = tuple(sorted({p for p in people if p.startswith("wm")}))
    rule = RULES[number % len(RULES)] if number % 7 == 0 else None
    values: dict[str, Any] = {
        "msgid": f"msg-{number:05d}",
        "corp_id": "corp-a" if number % 9 else "corp-b",
        "message_id": number,
        "conversation_id": 100 + number % 6 if number % 31 else None,  # a few corp switches
        "seq": number,
        "msgtime": START + timedelta(minutes=7 * number),
        "msgtype": TYPES[number % len(TYPES)],
        "sender": sender,
        "recipients": recipients,
        "roomid": ROOMS[number % len(ROOMS)],
        "customer_ids": customers,
        "staff_ids": staff,
        "department_ids": tuple(sorted({d for person in staff for d in STAFF_DEPARTMENTS.get(person, ())})),
        "text": text,
        "has_media": number % 4 == 0,
        "rules": (rule[0],) if rule else (),
        "categories": (rule[1],) if rule else (),
        "severities": (rule[2],) if rule else (),
        "sentiment": ("negative", "neutral", "positive", None)[number % 4],
    }
    values.update(overrides)
    return SearchDocument(**values)


def build_corpus(size: int = 160, seed: int = 5) -> Corpus:
    rng = random.Random(seed)
    planted: dict[str, set[str]] = {term: set() for term in PLANTED}
    docs = []
    for number in range(1, size + 1):
        parts = [filler(rng)]
        for term, forms in PLANTED.items():
            if rng.random() < 0.18:
                parts.append(rng.choice(forms))
                parts.append(filler(rng, 1, 6))
                planted[term].add(f"msg-{number:05d}")
        docs.append(make_document(number, "".join(parts), rng))
    return Corpus(docs, planted)
