"""The one family of audit errors. They know nothing about HTTP or the terminal:
``api.errors`` maps each class to a status once, and the CLI prints the message and hint.

Every subpackage's errors derive from :class:`AuditError`; the three generic kinds below
are used as they are (or subclassed) wherever a use case refuses its input, misses a row
or finds it in the wrong state."""

from __future__ import annotations


class AuditError(Exception):
    """Base of every audit error. ``code`` is stable; messages never carry secrets or chat
    content; ``hint`` says what to do next."""

    code = "audit_error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class NotFound(AuditError):
    code = "not_found"


class Conflict(AuditError):
    """The row exists but its state does not allow this (a repeat, a closed case)."""

    code = "conflict"


class InvalidInput(AuditError):
    code = "invalid_input"
