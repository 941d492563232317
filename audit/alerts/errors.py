"""Errors of alerting and review (domain errors: no HTTP here).

They belong to the one audit family (``audit.errors``): a missing alert is a ``NotFound``,
a step the workflow refuses a ``Conflict``. ``code`` keeps the name the API has always
reported for each."""

from __future__ import annotations

from audit.errors import AuditError, Conflict, InvalidInput, NotFound


class AlertError(AuditError):
    """Base error of alerts and review: an action on an alert was refused."""

    code = "alert"


class AlertNotFoundError(AlertError, NotFound):
    code = "alert_not_found"

    def __init__(self, alert_id: int) -> None:
        super().__init__(f"alert {alert_id} does not exist")
        self.alert_id = alert_id


class TransitionRefusedError(AlertError, Conflict):
    """The workflow does not allow this step from the alert's current state."""

    code = "transition_refused"

    def __init__(self, alert_id: int, action: str, status: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"alert {alert_id} is {status!r}; {action!r} is not allowed{detail}",
            hint="reload the alert to see its current state",
        )
        self.alert_id = alert_id
        self.action = action
        self.status = status


class ReviewInputError(AlertError, InvalidInput):
    """What the reviewer sent cannot be used (an empty note)."""

    code = "review_input"
