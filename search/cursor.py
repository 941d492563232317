"""Opaque pagination cursors: a keyset position bound to the query that produced it.

A cursor carries the sort values of the last hit of a page (for newest-first, e.g.
``[msgtime_ms, msgid]``; each backend chooses its keyset) and a fingerprint of the query,
sort and corp, so a cursor used with a different query is rejected instead of silently
returning the wrong page. Keyset (not offset) pagination keeps pages stable while new
messages arrive: a page never repeats or skips a document that existed before page one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from search.backend import SearchRequest
from search.errors import InvalidCursorError


def request_fingerprint(request: SearchRequest) -> str:
    canonical = f"{request.query!r}|{request.sort}|{request.corp_id}"
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(request: SearchRequest, position: list[Any]) -> str:
    payload = json.dumps({"f": request_fingerprint(request), "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(request: SearchRequest) -> list[Any] | None:
    """The position in ``request.cursor`` (``None`` for the first page)."""
    if request.cursor is None:
        return None
    try:
        padded = request.cursor + "=" * (-len(request.cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        fingerprint, position = payload["f"], payload["p"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidCursorError("the cursor is not valid; start again without --cursor") from None
    if fingerprint != request_fingerprint(request) or not isinstance(position, list):
        raise InvalidCursorError("the cursor belongs to a different query or sort order; start again without it")
    return position
