"""The search layer's errors: one base, a few specific ones that carry data."""

from __future__ import annotations

from dataclasses import dataclass


class SearchError(Exception):
    """Base of every search-layer error."""

    retryable: bool = False


class QuerySyntaxError(SearchError, ValueError):
    """A malformed query. ``position`` is the 0-based character offset the problem is at
    (``len(query)`` when something is missing at the end); ``str()`` reads
    ``"expected ) at 14"``."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at {position}")
        self.message = message
        self.position = position

    def caret(self, query: str) -> str:
        """The query with a caret line under the position (for a terminal)."""
        return f"{query}\n{' ' * _display_width(query[: self.position])}^"


@dataclass(frozen=True, slots=True)
class NameCandidate:
    """A directory entry a name in a filter may mean. ``detail`` tells namesakes apart: a
    member's departments, a customer's company, a department's parent."""

    kind: str  # member / customer / robot / group / department
    id: str
    name: str
    detail: str
    corp_id: str


class NameResolutionError(QuerySyntaxError):
    """A ``from:``/``to:``/``customer:``/``room:``/``dept:`` value that names nothing in the
    directory (``candidates`` empty) or several things (``candidates`` lists them)."""

    def __init__(
        self, message: str, position: int, field: str, value: str, candidates: tuple[NameCandidate, ...] = ()
    ) -> None:
        super().__init__(message, position)
        self.field = field
        self.value = value
        self.candidates = candidates


class UnknownNameError(NameResolutionError):
    """The value is neither an id nor (the start of) a name in the directory."""


class AmbiguousNameError(NameResolutionError):
    """The value is (the start of) the name of several people, groups or departments."""


class InvalidCursorError(SearchError, ValueError):
    """A cursor that is corrupt or belongs to a different query or sort order."""


class SearchBackendError(SearchError):
    """The backend cannot serve the call right now (unavailable, rejected, timed out).

    The message says what to do next; the indexer keeps the outbox rows and retries."""

    retryable = True


def _display_width(text: str) -> int:
    # CJK characters take two terminal columns, so the caret lands under the right one.
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
