"""Opaque cursors for keyset pagination: the sort key of the last item, base64url JSON.

A cursor is not a secret and not a capability: every page is filtered by the caller's
scope again, so a forged cursor can only skip, never reveal."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import msgspec
from litestar.params import PathParameter, QueryParameter

from audit.errors import InvalidInput

# Database ids are signed 64-bit: larger numbers are refused at the edge, not by the driver.
MAX_ID = 2**63 - 1
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
# ``?corp_id=``: the corp a request is about (default: ``archive.corps.corp_in_question``).
CorpQuery = Annotated[
    str | None,
    QueryParameter(description="The corp (default: the first configured one).", min_length=1, max_length=64),
]
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, *types: type) -> tuple[Any, ...] | None:
    """The key of a cursor from :func:`encode_cursor`, checked against ``types``."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = msgspec.json.decode(raw, type=tuple[*types])  # type: ignore[valid-type]
        if any(isinstance(value, int) and not 0 <= value <= MAX_ID for value in values):
            raise ValueError("id out of range")
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidInput("the cursor is not one this API issued", hint="start again without a cursor") from None
    return tuple(values)


def page_size(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    return limit
