"""Errors of retention and legal holds. Each carries a hint for the operator."""

from __future__ import annotations

from archive.errors import ArchiveError


class RetentionError(ArchiveError):
    """Base of the retention package's errors."""

    code = "retention"


class InvalidRetentionRuleError(RetentionError):
    """A policy or hold was given a scope, period or subject that cannot be right."""

    code = "retention_invalid"


class RetentionNotFoundError(RetentionError):
    """No policy or hold of that id in this corp."""

    code = "retention_not_found"

    def __init__(self, what: str, ident: int) -> None:
        super().__init__(f"no {what} with id {ident}", hint=f"list them with `wecom-audit retention {what} list`")
        self.what = what
        self.ident = ident


class RetentionPolicyLockedError(RetentionError):
    """The policy is locked: nobody, not even an admin, may shorten it."""

    code = "retention_policy_locked"

    def __init__(self, policy_id: int, name: str, retain_days: int) -> None:
        super().__init__(
            f"retention policy {name!r} (id {policy_id}) is locked at {retain_days} days and cannot be shortened",
            hint="a locked policy can only be lengthened; this is deliberate and cannot be undone",
        )
        self.policy_id = policy_id
        self.retain_days = retain_days


class PolicyChangeRefusedError(RetentionError):
    """Shortening an (unlocked) policy needs an admin and a reason."""

    code = "retention_policy_change_refused"

    def __init__(self, policy_id: int | None, message: str) -> None:
        super().__init__(message, hint="ask an admin to make the change and give a reason (--reason)")
        self.policy_id = policy_id


class HoldChangeRefusedError(RetentionError):
    """Releasing or narrowing a legal hold needs an admin and a reason."""

    code = "retention_hold_change_refused"

    def __init__(self, hold_id: int, message: str) -> None:
        super().__init__(message, hint="ask an admin to make the change and give a reason (--reason)")
        self.hold_id = hold_id
