"""Errors of authentication, authorisation and the access gate. They know nothing about
HTTP: ``api.errors`` maps each class to a status once."""

from __future__ import annotations

from audit.errors import AuditError, InvalidInput


class SecurityError(AuditError):
    """Base of every security error. ``code`` is stable; messages never carry secrets."""

    code = "security_error"


class AuthenticationRequired(SecurityError):
    code = "authentication_required"


class InvalidCredentials(SecurityError):
    """Wrong user name or password, or an unknown, expired or revoked token/session."""

    code = "invalid_credentials"


class AccountLocked(SecurityError):
    code = "account_locked"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("this account is locked after repeated failed logins", hint=f"try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class RateLimited(SecurityError):
    code = "rate_limited"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many login attempts from this address", hint=f"try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class PermissionDenied(SecurityError):
    """The role (or the token's permissions) does not allow this action."""

    code = "permission_denied"


class OutOfScope(SecurityError):
    """The data exists but lies outside the caller's data scope (or is a protected person's)."""

    code = "out_of_scope"


class PurposeRequired(SecurityError):
    code = "purpose_required"

    def __init__(self) -> None:
        super().__init__(
            "reading chat content needs a purpose",
            hint="send the case reference or reason in the X-Access-Purpose header (remembered for the session)",
        )


class CsrfFailed(SecurityError):
    code = "csrf_failed"


class WeakPassword(InvalidInput):
    """A new password that is too short or too easy to guess. ``reason`` (``too_short`` or
    ``too_guessable``) lets the console say so in the user's language."""

    code = "weak_password"

    def __init__(self, reason: str, message: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.reason = reason
