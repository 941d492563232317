"""WeCom HTTP API errors: the ``errcode`` WeCom answered, what it means and what to do.

Messages never contain the request URL: WeCom puts the secret and the access token in
the query string.
"""

from __future__ import annotations

from typing import Final

from archive.errors import ArchiveError
from archive.sdk.errors import WECOM_ERRCODES

# Answers WeCom documents as "try again later" (spec §6.8); retried with backoff.
TRANSIENT_ERRCODES: Final = frozenset({-1, 45009, 45033})
# The access token is missing, unknown or expired: fetch a new one and retry once (spec §6.1).
TOKEN_ERRCODES: Final = frozenset({40014, 42001})

API_ERRCODES: Final[dict[int, tuple[str, str]]] = {
    **WECOM_ERRCODES,
    -1: ("WeCom is busy", "usually transient; retry later"),
    40014: ("invalid access token", "wecom-audit fetches a new token by itself; if this persists, report it"),
    41001: ("access token missing", "this is a bug in wecom-audit's call; please report it"),
    42001: ("access token expired", "wecom-audit fetches a new token by itself; if this persists, report it"),
    45009: ("API call frequency exceeded", "WeCom rate-limits this corp; retry later"),
    45033: ("API concurrency limit exceeded", "WeCom rate-limits this corp; retry later"),
    48002: (
        "API not authorised for this secret",
        "use the 会话内容存档 Secret: msgaudit APIs reject app and contact secrets",
    ),
    60020: (
        "source IP not allowed",
        "add this server's egress IP to the trusted IPs (可信IP) of 会话内容存档 in the WeCom admin console",
    ),
}


class WeComApiError(ArchiveError):
    """WeCom answered an error (``errcode``) or an unusable HTTP response."""

    code = "wecom_api"

    def __init__(self, message: str, *, hint: str = "", errcode: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errcode = errcode


class WeComConfigurationError(WeComApiError):
    """Wrong corp id or secret, IP not trusted, archive not enabled or expired: an admin must act."""

    code = "wecom_configuration"


class WeComTransientError(WeComApiError):
    """Network errors, HTTP 5xx or "busy" errcodes that persisted through every retry."""

    code = "wecom_transient"
    retryable = True


def error_for_errcode(errcode: int, errmsg: str, call: str) -> WeComApiError:
    meaning, hint = API_ERRCODES.get(errcode, (errmsg or "unknown error", "see WeCom's global error codes (90313)"))
    message = f"WeCom {call} answered errcode {errcode} ({meaning})"
    if errcode in TRANSIENT_ERRCODES:
        return WeComTransientError(message, hint=hint, errcode=errcode)
    if errcode in API_ERRCODES and errcode not in TOKEN_ERRCODES and errcode != 41001:
        return WeComConfigurationError(message, hint=hint, errcode=errcode)
    return WeComApiError(message, hint=hint, errcode=errcode)
