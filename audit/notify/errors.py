"""Errors of notification delivery. They name the channel and what went wrong, never the
URL (a WeCom robot URL carries its key) nor any credential."""

from __future__ import annotations

from audit.errors import AuditError


class NotifyError(AuditError):
    """A notification could not be sent. ``retryable``: whether a later attempt may succeed."""

    code = "notify"
    retryable = False


class DeliveryError(NotifyError):
    """The channel failed or refused this time (network, status, SMTP): tried again later."""

    code = "delivery"
    retryable = True


class UnknownTargetError(NotifyError):
    """A routing target names a channel or entry that is not configured."""

    code = "unknown_target"
