"""An engine over the starter lexicons and a message context builder for detector tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from audit.detect.context import MessageContext
from audit.detect.engine import DetectionEngine, compile_engine
from audit.detect.hits import Hit
from audit.detect.rules.starter import starter_rules
from config.settings import DetectionSettings

STAFF_TO_CUSTOMER = MessageContext(
    message_id=None,
    corp_id="ww-test",
    msgid="m1",
    msgtype="text",
    action="send",
    text=None,
    body={},
    sender="zhangsan",
    sender_is_staff=True,
    recipients=("wmCustomer01",),
    roomid=None,
    chat_kind="single",
    has_external=True,
    msgtime=datetime(2026, 11, 23, 3, 0, tzinfo=UTC),  # Monday 11:00 in Shanghai
)


@pytest.fixture(scope="session")
def engine() -> DetectionEngine:
    return compile_engine(starter_rules(), DetectionSettings())


def text_hits(engine: DetectionEngine, text: str, **fields: Any) -> list[Hit]:
    return engine.scan([replace(STAFF_TO_CUSTOMER, text=text, **fields)])[0]


def highlighted(text: str, hits: list[Hit], detector: str | None = None) -> list[str]:
    """The original substrings the hits highlight."""
    return [text[h.start : h.end] for h in hits if h.start is not None and (detector is None or h.detector == detector)]
