"""Errors of the review workflow (domain errors: no HTTP here)."""

from __future__ import annotations

from audit.alerts.errors import AlertError
from audit.errors import InvalidInput


class AssigneeRefusedError(AlertError, InvalidInput):
    """An alert can be handed only to an active user whose role reviews alerts."""

    code = "assignee_refused"

    def __init__(self, assignee: str) -> None:
        super().__init__(
            f"{assignee!r} is not an active user who may review alerts",
            hint="assign it to a compliance officer or reviewer by their user name",
        )
        self.assignee = assignee
