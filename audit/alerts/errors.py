"""Errors of alerting and review (domain errors: no HTTP here)."""

from __future__ import annotations


class AlertError(Exception):
    """Base error of alerts, review and notifications."""

    retryable = False


class AlertNotFoundError(AlertError):
    def __init__(self, alert_id: int) -> None:
        super().__init__(f"alert {alert_id} does not exist")
        self.alert_id = alert_id


class TransitionRefusedError(AlertError):
    """The workflow does not allow this step from the alert's current state."""

    def __init__(self, alert_id: int, action: str, status: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"alert {alert_id} is {status!r}; {action!r} is not allowed{detail}")
        self.alert_id = alert_id
        self.action = action
        self.status = status
